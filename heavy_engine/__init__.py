"""heavy's engine: multi-agent question answering with typed progress events.

The engine never imports a chat library; Slack and Discord adapters live in `bots/`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import (
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
    from ._decompose import fallback_questions, normalise_questions, parse_questions
    from ._engine import Engine, HeavyRequest, Run
    from ._errors import ConfigError, HeavyError, ProviderError, RequestRejected
    from ._events import (
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
    from ._gc import tune_gc
    from ._sources import Source
    from ._types import ChatRequest, Completion, ToolCall, Usage

# Names are imported on first use (PEP 562), so `heavy --version` and `heavy --help` do not
# pay for pydantic, aiohttp and SQLAlchemy: importing everything here cost 0.5-0.6 s.
_LAZY = {
    "MAX_AGENTS": "_config",
    "AgentOverride": "_config",
    "HeavyConfig": "_config",
    "Prompts": "_config",
    "ProviderConfig": "_config",
    "Timeouts": "_config",
    "ToolSettings": "_config",
    "apply_env": "_config",
    "load_config": "_config",
    "simulated_fallback": "_config",
    "use_simulated": "_config",
    "validate_config": "_config",
    "fallback_questions": "_decompose",
    "normalise_questions": "_decompose",
    "parse_questions": "_decompose",
    "Engine": "_engine",
    "HeavyRequest": "_engine",
    "Run": "_engine",
    "validate_question": "_config",
    "ConfigError": "_errors",
    "HeavyError": "_errors",
    "ProviderError": "_errors",
    "RequestRejected": "_errors",
    "Accepted": "_events",
    "AgentFinished": "_events",
    "AgentRevised": "_events",
    "AgentStarted": "_events",
    "AgentSummary": "_events",
    "Done": "_events",
    "Event": "_events",
    "NotesCompared": "_events",
    "QuestionsReady": "_events",
    "RunResult": "_events",
    "SynthesisDelta": "_events",
    "SynthesisStarted": "_events",
    "ToolCalled": "_events",
    "ToolFinished": "_events",
    "tune_gc": "_gc",
    "Source": "_sources",
    "ChatRequest": "_types",
    "Completion": "_types",
    "ToolCall": "_types",
    "Usage": "_types",
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
