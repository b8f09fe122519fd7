"""The engine core: configuration, the orchestrator, the agent loop, progress events and sources.

Other packages import these names from here (`from ..core import HeavyConfig`), never from the
private modules; `heavy_engine` re-exports the ones an application needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports as _exports

if TYPE_CHECKING:
    from ._config import (
        MAX_AGENTS,
        SIMULATED_MODEL,
        AgentOverride,
        HeavyConfig,
        Limits,
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
        first_line,
    )
    from ._gc import tune_gc
    from ._mcp_config import PREFIX, McpServerConfig, permits, split_name
    from ._search_config import SearchBackendConfig, SearchConfig
    from ._sources import Source, sources_section, url_key
    from ._types import ChatRequest, Completion, Message, ToolCall, Usage

# Names are imported on first use (PEP 562), like `heavy_engine`'s: `heavy --version` does not pay
# for pydantic, aiohttp and SQLAlchemy, and `_engine` (which imports the tools and providers,
# which import names from here) loads only when asked for.
_LAZY = {
    "MAX_AGENTS": "_config",
    "SIMULATED_MODEL": "_config",
    "AgentOverride": "_config",
    "HeavyConfig": "_config",
    "Limits": "_config",
    "Prompts": "_config",
    "ProviderConfig": "_config",
    "Timeouts": "_config",
    "ToolSettings": "_config",
    "apply_env": "_config",
    "load_config": "_config",
    "simulated_fallback": "_config",
    "use_simulated": "_config",
    "validate_config": "_config",
    "validate_question": "_config",
    "fallback_questions": "_decompose",
    "normalise_questions": "_decompose",
    "parse_questions": "_decompose",
    "Engine": "_engine",
    "HeavyRequest": "_engine",
    "Run": "_engine",
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
    "first_line": "_events",
    "tune_gc": "_gc",
    "PREFIX": "_mcp_config",
    "McpServerConfig": "_mcp_config",
    "permits": "_mcp_config",
    "split_name": "_mcp_config",
    "SearchBackendConfig": "_search_config",
    "SearchConfig": "_search_config",
    "Source": "_sources",
    "sources_section": "_sources",
    "url_key": "_sources",
    "ChatRequest": "_types",
    "Completion": "_types",
    "Message": "_types",
    "ToolCall": "_types",
    "Usage": "_types",
}

__all__ = [
    "MAX_AGENTS",
    "PREFIX",
    "SIMULATED_MODEL",
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
    "Limits",
    "McpServerConfig",
    "Message",
    "NotesCompared",
    "Prompts",
    "ProviderConfig",
    "ProviderError",
    "QuestionsReady",
    "RequestRejected",
    "Run",
    "RunResult",
    "SearchBackendConfig",
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
    "first_line",
    "load_config",
    "normalise_questions",
    "parse_questions",
    "permits",
    "simulated_fallback",
    "sources_section",
    "split_name",
    "tune_gc",
    "url_key",
    "use_simulated",
    "validate_config",
    "validate_question",
]


__getattr__, __dir__ = _exports(__name__, _LAZY)
