"""heavy's engine: multi-agent question answering with typed progress events.

The engine never imports a chat library; Slack and Discord adapters live in `bots/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import exports as _exports

if TYPE_CHECKING:
    from .core import (
        MAX_AGENTS,
        Accepted,
        AgentFinished,
        AgentOverride,
        AgentRevised,
        AgentStarted,
        AgentSummary,
        ChatRequest,
        Completion,
        ConfigError,
        Done,
        Engine,
        Event,
        HeavyConfig,
        HeavyError,
        HeavyRequest,
        NotesCompared,
        Prompts,
        ProviderConfig,
        ProviderError,
        QuestionsReady,
        RequestRejected,
        Run,
        RunResult,
        SearchConfig,
        Source,
        SynthesisDelta,
        SynthesisStarted,
        Timeouts,
        ToolCall,
        ToolCalled,
        ToolFinished,
        ToolSettings,
        Usage,
        apply_env,
        fallback_questions,
        load_config,
        normalise_questions,
        parse_questions,
        simulated_fallback,
        tune_gc,
        use_simulated,
        validate_config,
        validate_question,
    )

# `heavy_engine.core`'s names, imported on first use (PEP 562), so `heavy --version` and
# `heavy --help` do not pay for pydantic, aiohttp and SQLAlchemy: importing everything here cost
# 0.5-0.6 s.
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


__getattr__, __dir__ = _exports(__name__, dict.fromkeys(__all__, "core"))
