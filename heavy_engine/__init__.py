"""heavy's engine: multi-agent question answering with typed progress events.

The engine never imports a chat library; Slack and Discord adapters live in `bots/`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core._config import (
        MAX_AGENTS,
        AgentOverride,
        HeavyConfig,
        Prompts,
        ProviderConfig,
        Timeouts,
        ToolSettings,
        apply_env,
        load_config,
        simulated_fallback,
        use_simulated,
        validate_config,
        validate_question,
    )
    from .core._decompose import fallback_questions, normalise_questions, parse_questions
    from .core._engine import Engine, HeavyRequest, Run
    from .core._errors import ConfigError, HeavyError, ProviderError, RequestRejected
    from .core._events import (
        Accepted,
        AgentFinished,
        AgentRevised,
        AgentStarted,
        AgentSummary,
        Done,
        Event,
        NotesCompared,
        QuestionsReady,
        RunResult,
        SynthesisDelta,
        SynthesisStarted,
        ToolCalled,
        ToolFinished,
    )
    from .core._gc import tune_gc
    from .core._search_config import SearchConfig
    from .core._sources import Source
    from .core._types import ChatRequest, Completion, ToolCall, Usage

# Names are imported on first use (PEP 562), so `heavy --version` and `heavy --help` do not
# pay for pydantic, aiohttp and SQLAlchemy: importing everything here cost 0.5-0.6 s.
_LAZY = {
    "MAX_AGENTS": "core._config",
    "AgentOverride": "core._config",
    "HeavyConfig": "core._config",
    "Prompts": "core._config",
    "ProviderConfig": "core._config",
    "Timeouts": "core._config",
    "ToolSettings": "core._config",
    "apply_env": "core._config",
    "load_config": "core._config",
    "simulated_fallback": "core._config",
    "use_simulated": "core._config",
    "validate_config": "core._config",
    "fallback_questions": "core._decompose",
    "normalise_questions": "core._decompose",
    "parse_questions": "core._decompose",
    "Engine": "core._engine",
    "HeavyRequest": "core._engine",
    "Run": "core._engine",
    "validate_question": "core._config",
    "ConfigError": "core._errors",
    "HeavyError": "core._errors",
    "ProviderError": "core._errors",
    "RequestRejected": "core._errors",
    "Accepted": "core._events",
    "AgentFinished": "core._events",
    "AgentRevised": "core._events",
    "AgentStarted": "core._events",
    "AgentSummary": "core._events",
    "Done": "core._events",
    "Event": "core._events",
    "NotesCompared": "core._events",
    "QuestionsReady": "core._events",
    "RunResult": "core._events",
    "SynthesisDelta": "core._events",
    "SynthesisStarted": "core._events",
    "ToolCalled": "core._events",
    "ToolFinished": "core._events",
    "tune_gc": "core._gc",
    "SearchConfig": "core._search_config",
    "Source": "core._sources",
    "ChatRequest": "core._types",
    "Completion": "core._types",
    "ToolCall": "core._types",
    "Usage": "core._types",
}

__all__ = [
    "MAX_AGENTS",
    "Accepted",
    "AgentFinished",
    "AgentOverride",
    "AgentRevised",
    "AgentStarted",
    "AgentSummary",
    "ChatRequest",
    "Completion",
    "ConfigError",
    "Done",
    "Engine",
    "Event",
    "HeavyConfig",
    "HeavyError",
    "HeavyRequest",
    "NotesCompared",
    "Prompts",
    "ProviderConfig",
    "ProviderError",
    "QuestionsReady",
    "RequestRejected",
    "Run",
    "RunResult",
    "SearchConfig",
    "Source",
    "SynthesisDelta",
    "SynthesisStarted",
    "Timeouts",
    "ToolCall",
    "ToolCalled",
    "ToolFinished",
    "ToolSettings",
    "Usage",
    "apply_env",
    "fallback_questions",
    "load_config",
    "normalise_questions",
    "parse_questions",
    "simulated_fallback",
    "tune_gc",
    "use_simulated",
    "validate_config",
    "validate_question",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
