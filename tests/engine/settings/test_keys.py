"""Key spelling, command-line parsing and the mapping onto HeavyConfig."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import AgentOverride, HeavyConfig
from heavy_engine.settings import (
    SettingsRefused,
    effective_values,
    normalize_key,
    parse_assignments,
    parse_value,
    read_value,
    to_overrides,
)


@pytest.mark.parametrize(("key", "canonical"), [
    ("model", "model"),  # a plain key
    (" timeout ", "timeout"),  # whitespace from shell quoting
    ("agent.2.model", "agent.2.model"),  # per-agent key, agents count from 1
    ("agent.02.system_prompt", "agent.2.system_prompt"),  # leading zero normalised
    ("agent.16.model", "agent.16.model"),  # the last agent there can be
])
def test_normalize_key(key: str, canonical: str) -> None:
    assert normalize_key(key) == canonical


@pytest.mark.parametrize(("key", "reason"), [
    ("colour", "not a setting"),  # unknown key
    ("providers", "not a setting"),  # exists in config.yaml, but operator-only
    ("agent.0.model", "numbered 1 to 16"),  # agents count from 1
    ("agent.17.model", "numbered 1 to 16"),  # beyond the maximum team
    ("agent.1.provider", "not a setting"),  # per-agent, but not overridable
])
def test_normalize_key_refuses(key: str, reason: str) -> None:
    with pytest.raises(SettingsRefused, match=reason) as info:
        normalize_key(key)
    assert info.value.key == key


@pytest.mark.parametrize(("key", "raw", "parsed"), [
    ("tools", "calculate, web_search", ["calculate", "web_search"]),  # comma list, spaces
    ("tools", "", []),  # no tools at all
    ("tools", ["calculate"], ["calculate"]),  # already a list (chat, JSON)
    ("agents", "3", 3),  # command-line text typed here, strictly
    ("agents", "true", "true"),  # left for pydantic (strict) to refuse by name
])
def test_parse_value(key: str, raw: Any, parsed: Any) -> None:
    assert parse_value(key, raw) == parsed


def test_parse_assignments_splits_at_the_first_equals_sign() -> None:
    assert parse_assignments(["system_prompt=a=b", "agent.1.model=x"]) == {
        "system_prompt": "a=b", "agent.1.model": "x"}
    with pytest.raises(SettingsRefused, match="expected key=value"):
        parse_assignments(["model"])


def test_agent_keys_extend_the_operators_agent_overrides() -> None:
    base = HeavyConfig(agent_overrides=[AgentOverride(temperature=0.1)])
    over = to_overrides(base, {"agent.3.model": "m", "timeout": 60})
    assert over == {
        "timeouts": {"request": 60},
        "agent_overrides": [
            {"provider": None, "model": None, "system_prompt": None, "temperature": 0.1,
             "tools": None, "role": None},
            {}, {"model": "m"},
        ],
    }
    config = base.with_overrides(over)
    assert config.agent_overrides[0].temperature == 0.1  # the operator's agent 1 survives
    assert read_value(config, "agent.3.model") == "m"
    assert read_value(config, "agent.5.model") is None
    assert config.timeouts.request == 60
    assert effective_values(config)["agent.3.model"] == "m"
    assert "agent.2.model" not in effective_values(config)
