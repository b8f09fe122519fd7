"""Test helpers shipped with the engine: a local fake OpenAI-compatible server and its config,
and `MockProvider`, the in-process seam for unit tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import HeavyConfig, ProviderConfig
from ._mock_provider import MockProvider

if TYPE_CHECKING:
    from .fake_llm import (
        FakeLLM,
        RecordedRequest,
        Reply,
        classify,
        drop_reply,
        error_reply,
        garbage_reply,
        hang_reply,
        held_reply,
        slow_reply,
        text_reply,
        tool_call_reply,
    )

FAKE_PROVIDER = "fake"
_FAKE_LLM_NAMES = frozenset({
    "FakeLLM", "RecordedRequest", "Reply", "classify", "drop_reply", "error_reply", "garbage_reply",
    "hang_reply", "held_reply", "slow_reply", "text_reply", "tool_call_reply",
})


def __getattr__(name: str) -> Any:
    # Lazy so `python -m heavy_engine.testing.fake_llm` does not import the module twice.
    if name in _FAKE_LLM_NAMES:
        from . import fake_llm

        return getattr(fake_llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fake_provider_config(base_url: str, **fields: Any) -> ProviderConfig:
    """An `openai` provider for the fake server, with retry delays short enough for tests."""
    settings: dict[str, Any] = {
        "type": "openai", "base_url": base_url, "max_retries": 2,
        "retry_base_delay": 0.01, "retry_max_delay": 0.05,
    }
    settings.update(fields)
    return ProviderConfig(**settings)


def fake_config(base_url: str, **overrides: Any) -> HeavyConfig:
    """A `HeavyConfig` whose default provider ("fake") is the fake server at `base_url`.

    `overrides` are merged like per-channel overrides (nested dicts merge), e.g.
    `fake_config(fake.base_url, agents=2, timeouts={"request": 5})`.
    """
    config = HeavyConfig(
        providers={FAKE_PROVIDER: fake_provider_config(base_url)},
        provider=FAKE_PROVIDER,
        model="fake/model",
    )
    return config.with_overrides(overrides) if overrides else config


__all__ = [
    "FAKE_PROVIDER",
    "FakeLLM",
    "MockProvider",
    "RecordedRequest",
    "Reply",
    "classify",
    "drop_reply",
    "error_reply",
    "fake_config",
    "fake_provider_config",
    "garbage_reply",
    "hang_reply",
    "held_reply",
    "slow_reply",
    "text_reply",
    "tool_call_reply",
]
