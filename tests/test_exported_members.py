"""The public surface, pinned (httpx's tests/test_exported_members.py is the model).

Each package's `__all__` is listed here: adding or removing a public name is a decision that
shows up in review as a change to this file. Everything a package exposes without an
underscore is in its `__all__`, and every name there exists.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import types
from collections.abc import Iterator

import pytest

PUBLIC = {
    "bots.discord": ["DiscordAdapter", "DiscordOptions", "create_adapter", "intents"],
    "bots.slack": ["EVENTS_PATH", "SlackAdapter", "SlackEnv", "create_adapter", "slack_env"],
    "bots.slack.native": [
        "STREAM_MAX_CHARS", "TRANSIENT", "DbInstallationStore", "DbOAuthStateStore",
        "DbThreadContextStore", "OAuthRoutes", "StreamedAnswer", "TokenCipher", "WorkspaceClient",
        "WorkspaceDelivery", "bind_request_token", "ignore_unknown_workspaces", "oauth_settings",
        "register_assistant", "register_home", "republish_home", "sources_task",
    ],
    "heavy_engine.attachments": [
        "Attachment", "AttachmentLimits", "Attachments", "DISCORD_CDN_HOSTS", "Document",
        "HostPolicy", "Image", "SLACK_FILE_HOSTS", "accepts_images", "attachment_notes",
        "discord_policy", "fetch_attachments", "image_parts_for", "kind_of", "prompt_context",
        "run_models", "size_text", "slack_policy", "unseen_image_notes", "with_images",
    ],
    "heavy_engine.conversations": [
        "ACTIONS", "Action", "CHAIN_HEADER", "ChatMessage", "DM_HEADER", "MAX_CHARS",
        "MAX_EXCHANGES", "MAX_MESSAGES", "MAX_MESSAGE_CHARS", "conversation_context",
        "dm_context", "follow_up", "recent_exchanges", "reply_chain_context",
    ],
    "heavy_engine.help": ["help_text"],
    "heavy_engine.progress": ["AgentProgress", "ProgressState"],
    "heavy_engine.text": [
        "answer_body", "footer", "run_notes", "source_links", "sources_text", "split_markdown",
        "transcript",
    ],
    "heavy_engine": [
        "Accepted", "AgentFinished", "AgentOverride", "AgentRevised", "AgentStarted", "AgentSummary",
        "ChatRequest", "Completion", "ConfigError", "Done", "Engine", "Event", "HeavyConfig",
        "HeavyError", "HeavyRequest", "MAX_AGENTS", "NotesCompared", "Prompts", "ProviderConfig", "ProviderError",
        "QuestionsReady", "RequestRejected", "Run", "RunResult", "SearchConfig", "Source", "SynthesisDelta",
        "SynthesisStarted", "Timeouts", "ToolCall", "ToolCalled", "ToolFinished", "ToolSettings",
        "Usage", "apply_env", "fallback_questions", "load_config", "normalise_questions",
        "parse_questions", "simulated_fallback", "tune_gc", "use_simulated", "validate_config",
        "validate_question",
    ],
    "heavy_engine.core": [
        "Accepted", "AgentFinished", "AgentOverride", "AgentRevised", "AgentStarted", "AgentSummary",
        "ChatRequest", "Completion", "ConfigError", "Done", "Engine", "Event", "HeavyConfig",
        "HeavyError", "HeavyRequest", "Limits", "MAX_AGENTS", "McpServerConfig", "Message",
        "NotesCompared", "PREFIX", "Prompts", "ProviderConfig", "ProviderError", "QuestionsReady",
        "RequestRejected", "Run", "RunResult", "SIMULATED_MODEL", "SearchBackendConfig",
        "SearchConfig", "Source", "SynthesisDelta", "SynthesisStarted", "Timeouts", "ToolCall",
        "ToolCalled", "ToolFinished", "ToolSettings", "Usage", "apply_env", "fallback_questions",
        "first_line", "load_config", "normalise_questions", "parse_questions", "permits",
        "simulated_fallback", "sources_section", "split_name", "tune_gc", "url_key",
        "use_simulated", "validate_config", "validate_question",
    ],
    "heavy_engine.cli": [
        "build_parser", "collect_tools", "hide_secrets", "main", "render_tools", "run_loop",
    ],
    "heavy_engine.db": [
        "Base", "ChannelSettings", "DEFAULT_URL", "Database", "JobEventRow", "JobRow", "JobTaskRow",
        "MIGRATIONS_DIR", "SettingsAudit",
        "URL_ENV", "UTCDateTime", "create_engine", "database_url", "dump_json", "head_revision",
        "install_queue_schema", "is_postgres", "is_sqlite", "libpq_url", "normalize_url",
        "revisions", "upgrade_queue_schema", "upgrade_sql", "utcnow"
    ],
    "heavy_engine.delivery": [
        "AnswerLimits", "AnswerPlan", "Asking", "Capabilities", "ContextReader",
        "FILES_ONLY_QUESTION", "Follower", "HELP_WORDS", "Ledger", "LedgerState", "Pace", "Part",
        "Question", "ReplyPipeline", "ReplyTarget", "StopOutcome",
        "Surface", "Tag", "clip", "clip_start", "failure_sentence", "head", "may_stop", "plan_answer",
        "retry_after", "shorten", "with_reference",
    ],
    "heavy_engine.eval": [
        "PLUMBING_NOTE", "Corpus", "CorpusFetch", "CorpusSearch", "Document", "EvalQuestion",
        "Setup", "SetupReport", "corpus_tools", "default_setups", "exact_match", "load_questions",
        "normalise", "normalised_match", "question_line", "run_eval", "shipped", "source_hits",
    ],
    "heavy_engine.observability": [
        "CONTENT_TYPE", "MASK", "JsonFormatter", "MetricSet", "Metrics", "RedactingFormatter",
        "SECRET_ENV", "Series", "add_env_secrets", "add_secret", "configure_logging", "job_id_var",
        "redact",
    ],
    "heavy_engine.plugins": [
        "BUILTINS", "KINDS", "Kind", "Plugin", "PluginError", "PluginRegistry", "group",
        "registry",
    ],
    "heavy_engine.providers": [
        "BadReply", "ClaudeCLIProvider", "DirectConnector", "OpenAIProvider", "Provider", "ProviderFactory",
        "ProviderPool", "SimulatedProvider", "StreamState", "cli_model", "encode_body",
        "last_user_text", "parse_completion", "provider_message", "provider_types", "proxy_for",
        "render_prompt", "retry_after", "text_of", "topic_of",
    ],
    "heavy_engine.jobs": [
        "Adapter", "AdapterFactory", "BudgetLeft", "ConfigResolver", "Delivery",
        "DistributedRunner", "DurableRunner", "Exchange", "answered",
        "FINAL_STATUSES", "FollowItem", "Job", "JobHistory", "JobRejected", "JobRunner", "JobSpec",
        "JobStatus", "JobStore", "PastJob", "RejectReason", "Runner", "Services", "job_view",
        "list_view", "may_ask", "spent_today", "start_of_day", "storable",
    ],
    "heavy_engine.service": [
        "AllowedHosts", "Api", "NamedTokens", "READY", "ROLES", "Role", "build_app",
        "build_mcp_server", "build_runner", "connection_options", "listen", "load_adapters",
        "load_named_tokens", "signed_webhook", "submit_job",
    ],
    "heavy_engine.settings": [
        "KEY_HELP", "AdminPolicy", "AnyOf", "AuditEntry", "ConfigAdmins", "JobLike", "Resolved",
        "Scope", "ScopeSettings", "SettingsConflict", "SettingsForbidden", "SettingsRefused",
        "SettingsStore", "Source", "check_value", "effective_values", "ensure_can_edit", "layer",
        "normalize_key", "parse_assignments", "parse_value", "read_value", "to_overrides",
    ],
    "heavy_engine.testing": [
        "FAKE_PROVIDER", "FakeLLM", "MockProvider", "RecordedRequest", "Reply", "classify",
        "drop_reply", "error_reply", "fake_config", "fake_provider_config", "garbage_reply",
        "hang_reply", "held_reply", "slow_reply", "text_reply", "tool_call_reply",
    ],
    "heavy_engine.tools": [
        "COMPLETE_TOOL", "TOO_SLOW_NOTE", "Calculate", "FetchUrl", "ListFiles", "MarkTaskComplete",
        "ReadFile", "Resolver", "Tool", "ToolContext", "ToolFailed", "ToolOutput", "ToolRefused",
        "ToolRegistry", "ToolResult", "WebSearch", "WriteFile", "builtin_tools", "default_registry", "evaluate",
        "execute_tool", "forbidden_reason", "format_results", "html_to_text", "parse_ip",
        "parse_results",
        "result_url", "system_resolver",
    ],
    "heavy_engine.tools.mcp": [
        "McpPool", "McpSelection", "McpServer", "McpTool", "ServerStatus", "make_tool",
        "simplify_schema", "to_output", "tool_name",
    ],
    "heavy_engine.tools.search": [
        "MAX_RESPONSE_BYTES", "BackendFailed", "Cooldowns", "SearchAnswer", "SearchBackend",
        "SearchBackendConfig", "SearchConfig", "SearchResult", "build_backend", "fetch",
        "json_answer", "new_client", "one_line", "parse_results", "pick_results", "result_url",
        "search_in_order", "tls_context",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_what_a_package_defines_without_an_underscore_is_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    own = (module_name, f"{module_name}._")  # the module itself, or its private modules
    defined_here = {
        name for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "").startswith(own)
    }
    assert defined_here <= set(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_no_orm_row_is_exported_outside_the_database_package() -> None:
    # Rows are the database's business: other packages hand out their own records (`Job`, ...).
    from heavy_engine.db import Base

    for module_name in sorted(set(PUBLIC) - {"heavy_engine.db"}):
        module = importlib.import_module(module_name)
        rows = [name for name in module.__all__
                if isinstance(value := getattr(module, name), type) and issubclass(value, Base)]
        assert rows == [], module_name


ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("heavy_engine", "bots")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _owner(module: str) -> str | None:
    """The package a private module belongs to (None when no part of the name is private)."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported_modules(path: pathlib.Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every module `path` imports, relative imports resolved; for
    `from package import name`, `package.name` too when it is a module."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:
                if _is_module(f"{target}.{alias.name}"):
                    yield node.lineno, f"{target}.{alias.name}"


def test_private_modules_are_imported_only_inside_their_package() -> None:
    """A module whose name starts with `_` is private to the package that holds it.

    It may be imported only by modules inside that package, its subpackages included
    (`heavy_engine/tools/mcp/_pool.py` may import `heavy_engine.tools._base`,
    `bots/slack/native/_home.py` may import `bots.slack._bot`), never by a sibling package, a
    parent package or anything outside: `heavy_engine/jobs/_store.py` imports `JobRow` from
    `heavy_engine.db`, not from `heavy_engine.db._job_tables`; `bots/slack/_wiring.py` imports
    from `bots.slack.native`, not `bots.slack.native._assistant`; `heavy_engine/tools/__init__.py`
    imports from `heavy_engine.tools.search`, not `heavy_engine.tools.search._duckduckgo`. Every
    module of `heavy_engine/` and `bots/` is checked (the tests unit-test private modules on
    purpose); imports of modules outside these packages are not (`attachments/_worker.py`, run
    by path, imports its neighbour as the top-level `_extract`).
    """
    bad = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = _module_name(path)
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for line, module in _imported_modules(path):
                owner = _owner(module)
                if (module.split(".")[0] in PACKAGES and owner is not None
                        and package != owner and not package.startswith(f"{owner}.")):
                    bad.append(f"{path.relative_to(ROOT)}:{line} -> {module}")
    assert bad == [], "private modules imported from outside their package:\n" + "\n".join(bad)
