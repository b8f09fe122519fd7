"""heavy's engine: multi-agent question answering with typed progress events.

The engine never imports a chat library; Slack and Discord adapters live in `bots/`.
"""

from __future__ import annotations

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
)
from .core._decompose import fallback_questions, normalise_questions, parse_questions
from .core._engine import Engine, HeavyRequest, Run, validate_question
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
