"""heavy's engine: multi-agent question answering with typed progress events.

The engine never imports a chat library; Slack and Discord adapters live in `bots/`.
"""

from __future__ import annotations

from ._config import (
    AgentOverride,
    HeavyConfig,
    ProviderConfig,
    Timeouts,
    ToolSettings,
    load_config,
    validate_config,
)
from ._engine import Engine, HeavyRequest, Run, validate_question
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

__all__ = [
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
    "load_config",
    "tune_gc",
    "validate_config",
    "validate_question",
]
