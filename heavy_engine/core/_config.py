"""Typed operator configuration: `config.yaml` validated by pydantic, plus environment overrides.

Invariant: secrets never live in this model. A provider names the environment variable that
holds its key (`api_key_env`); the key is read from the environment when the provider is built.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .. import plugins
from ._errors import ConfigError, RequestRejected
from ._mcp_config import McpServerConfig, check_server_names, unknown_mcp_names
from ._search_config import SearchConfig

DEFAULT_CONFIG_PATH = Path("config.yaml")
SIMULATED_PROVIDER = "simulated"
SIMULATED_MODEL = "simulated"  # what runs on the simulated provider, whatever `model` says
SIMULATED_PACE = 0.4  # seconds a call of the no-key fallback, like a small hosted model
MAX_AGENTS = 16  # the one limit on agents per question (settings, API, chat commands)

_DEFAULT_DECOMPOSE = (
    "You split a user's question into exactly {n} distinct, specialised sub-questions that "
    "together let a team of researchers answer it thoroughly. Each sub-question must stand on "
    "its own and look at the question from a different angle (facts, analysis, alternatives, "
    "verification, ...). Reply with JSON only: {\"questions\": [\"...\", ...]} with {n} strings."
)
_DEFAULT_AGENT = (
    "You are one member of a research team. Answer your assigned sub-question thoroughly and "
    "precisely. Use the tools when they help (calculations, searching, reading pages); when you "
    "have enough, answer directly in Markdown without calling more tools."
)
_DEFAULT_DECOMPOSE_AUTO = (
    "You split a user's question into between 1 and {max} distinct, specialised sub-questions "
    "that together let a team of researchers answer it thoroughly. Use as few as the question "
    "needs: 1 for a simple fact, more for research with several angles. Each sub-question must "
    "stand on its own. Reply with JSON only: {\"questions\": [\"...\", ...]}."
)
_DEFAULT_COMPARE_NOTES = (
    "Compare notes. Below are the other researchers' findings on the same question. Say what "
    "they change in your finding and what you now doubt, then give your revised finding in "
    "full, in Markdown. Keep what your own evidence supports; do not just adopt the majority."
)
_DEFAULT_WEIGH = (
    "The agents have compared notes. Do not take a majority vote: weigh the evidence behind "
    "each finding, and name the disagreements that remain and which side the evidence favours."
)
_DEFAULT_ROLES = {
    "lead_researcher": (
        "Your role: lead researcher. Cover the core of the question thoroughly and give a "
        "clear, well-supported answer with the key facts."
    ),
    "sceptic": (
        "Your role: sceptic. Look for what could be wrong: weak evidence, hidden assumptions, "
        "outdated or unverified claims. Say how sure you are."
    ),
    "quantitative_analyst": (
        "Your role: quantitative analyst. Find the numbers: figures, orders of magnitude, "
        "costs and rates; check the arithmetic with the calculate tool."
    ),
    "contrarian": (
        "Your role: contrarian. Make the strongest case against the obvious answer and for "
        "the alternatives others will overlook."
    ),
}
_DEFAULT_SYNTHESIS = (
    "You combine the findings of several research agents into one answer to the user's "
    "question. Resolve contradictions, keep what is best supported, drop repetition, and write "
    "a clear, well-structured Markdown answer. Do not mention the agents unless some failed."
)


class _Strict(BaseModel):
    # strict: `agents: true` or `timeout: "30"` is refused, not coerced (an int is still a
    # fine float). Text from a command line is typed by `settings.parse_value` first.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProviderConfig(_Strict):
    """One LLM backend. `type` picks the implementation from the provider registry."""

    type: str = "openai"  # a registered provider type: openai, claude_cli, simulated, plugins
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = Field(default=64, ge=1, le=100_000)
    max_retries: int = Field(default=3, ge=0, le=10)
    retry_base_delay: float = Field(default=0.5, ge=0, le=60)
    retry_max_delay: float = Field(default=20.0, ge=0, le=600)
    json_mode: bool = True
    command: str = "claude"
    # simulated only: seconds a call (unset: instant, but 0.4 as the no-key fallback)
    pace: float | None = Field(default=None, ge=0, le=60)

    @field_validator("type")
    @classmethod
    def _registered(cls, v: str) -> str:
        known = plugins.registry()  # metadata only: validating imports no provider
        if not known.has("providers", v):
            raise ValueError(
                f"unknown provider type {v!r} (known: {', '.join(known.names('providers'))})")
        return v

    @model_validator(mode="after")
    def _needs_base_url(self) -> ProviderConfig:
        if self.type == "openai" and not self.base_url:
            raise ValueError("an openai provider needs base_url")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return self

    def api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The provider's key from the environment, or None when unset or empty."""
        if not self.api_key_env:
            return None
        return (env if env is not None else os.environ).get(self.api_key_env) or None

    def fingerprint(self) -> str:
        """Stable across processes (unlike `hash()`): keys shared clients and limits."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class AgentOverride(_Strict):
    """Per-agent settings; unset fields inherit the request's settings."""

    provider: str | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=8000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[str] | None = None
    role: str | None = Field(default=None, min_length=1, max_length=60)


class Timeouts(_Strict):
    """Seconds. `request` bounds a whole run; the others bound one piece of it."""

    request: float = Field(default=300, gt=0, le=3600)
    agent: float = Field(default=180, gt=0, le=3600)
    llm_call: float = Field(default=90, gt=0, le=3600)
    tool: float = Field(default=30, gt=0, le=600)


class Prompts(_Strict):
    """`{n}` in `decompose` becomes the number of agents; other braces are kept as written."""

    decompose: str = Field(default=_DEFAULT_DECOMPOSE, min_length=1)
    agent: str = Field(default=_DEFAULT_AGENT, min_length=1)
    synthesis: str = Field(default=_DEFAULT_SYNTHESIS, min_length=1)
    decompose_auto: str = Field(default=_DEFAULT_DECOMPOSE_AUTO, min_length=1)  # `{max}`
    compare_notes: str = Field(default=_DEFAULT_COMPARE_NOTES, min_length=1)  # rounds: 2
    weigh_evidence: str = Field(default=_DEFAULT_WEIGH, min_length=1)  # synthesis, rounds: 2

    def decompose_for(self, agents: int) -> str:
        """The decomposition prompt for `agents` sub-questions (no `str.format`: braces stay)."""
        return self.decompose.replace("{n}", str(agents))

    def decompose_auto_for(self, max_agents: int) -> str:
        """The `agents: auto` decomposition prompt, between 1 and `max_agents` sub-questions."""
        return self.decompose_auto.replace("{max}", str(max_agents))


class Budget(_Strict):
    """Spend allowed for one question (None = unlimited); see the engine for what stops."""

    tokens: int | None = Field(default=None, ge=1, le=10**9)
    cost_usd: float | None = Field(default=None, gt=0, le=10_000)


class Synthesis(_Strict):
    """`quorum` K: once K agents finished, the others get `grace_s` more, then are cut off.

    `instructions`, `temperature` and `max_tokens` shape the answer's writing (an OpenAI
    client's system message, `temperature` and `max_tokens` land here); with one agent there
    is no synthesis call and the instructions go to that agent instead."""

    quorum: int | None = Field(default=None, ge=1, le=MAX_AGENTS)
    grace_s: float = Field(default=10.0, ge=0, le=3600)
    instructions: str | None = Field(default=None, max_length=8000)
    temperature: float | None = Field(default=None, ge=0, le=2)  # None: the run's temperature
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)


_HOST_PATTERN = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9_-]{1,63}\.?$", re.I)


class ToolSettings(_Strict):
    """Limits shared by the built-in tools."""

    max_output_chars: int = Field(default=8000, ge=200, le=200_000)
    web_search_max_results: int = Field(default=5, ge=1, le=20)
    fetch_max_bytes: int = Field(default=2_000_000, ge=1000, le=50_000_000)
    # Exceptions to fetch_url's SSRF guard: IPs, CIDRs, host names or `*.suffix`. Operator only.
    fetch_allow_hosts: list[str] = Field(default_factory=list, max_length=100)
    scratch_max_bytes: int = Field(default=5_000_000, ge=1000, le=500_000_000)
    # Tool calls run per model turn; the rest are answered "too many tool calls", not run.
    max_calls_per_turn: int = Field(default=16, ge=1, le=256)

    @field_validator("fetch_allow_hosts")
    @classmethod
    def _allow_entries(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry.strip("[]"), strict=False)
            except ValueError:
                if not _HOST_PATTERN.match(entry):
                    raise ValueError(
                        f"{entry!r} is not an IP address, CIDR, host name or *.suffix"
                    ) from None
        return v


class Limits(_Strict):
    """How many jobs run at once, who may queue more, and daily budgets (None = unlimited).

    `max_concurrent_jobs` and `max_queued` are read from the operator config only; the others
    from each job's resolved settings, so a workspace or channel can be made stricter. All count
    the process's jobs on SQLite and every replica's on PostgreSQL (the `jobs` table).
    Budgets count the usage of jobs created since 00:00 UTC.
    """

    max_concurrent_jobs: int = Field(default=8, ge=1, le=1000)
    per_user: int = Field(default=2, ge=1, le=100)  # running jobs per requester
    per_channel: int = Field(default=4, ge=1, le=1000)  # running jobs per channel
    max_queued: int = Field(default=200, ge=0, le=100_000)  # waiting jobs (see above)
    max_queued_per_user: int = Field(default=5, ge=0, le=1000)
    daily_tokens_per_channel: int | None = Field(default=None, ge=1, le=10**12)
    daily_tokens_per_workspace: int | None = Field(default=None, ge=1, le=10**12)
    daily_cost_per_channel: float | None = Field(default=None, gt=0, le=1_000_000)
    daily_cost_per_workspace: float | None = Field(default=None, gt=0, le=1_000_000)
    daily_tokens_per_user: int | None = Field(default=None, ge=1, le=10**12)  # per platform


_CHAT_ID = re.compile(r"^([a-z]{1,16}:)?[A-Za-z0-9_-]{1,64}$")


class AccessRules(_Strict):
    """Who may ask, at one level. Empty allow lists allow everyone who is not blocked."""

    allow_users: list[str] = Field(default_factory=list, max_length=1000)
    block_users: list[str] = Field(default_factory=list, max_length=1000)
    allow_roles: list[str] = Field(default_factory=list, max_length=1000)  # Discord role ids

    @field_validator("allow_users", "block_users", "allow_roles")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for entry in v:
            if not _CHAT_ID.match(entry):
                raise ValueError(f"{entry!r} is not a user or role id (letters, digits, _ or -, "
                                 "optionally prefixed like slack:U123)")
        return list(dict.fromkeys(v))


class Access(AccessRules):
    """The operator's rules (config.yaml), then the workspace's and the channel's.

    `workspace` and `channel` are filled from the stored settings by `settings.layer()`; each
    level is a gate of its own: blocked at any level is blocked, and every level with an allow
    list must let the asker through, so a channel cannot open what its workspace closed.
    """

    workspace: AccessRules = Field(default_factory=AccessRules)
    channel: AccessRules = Field(default_factory=AccessRules)

    def levels(self) -> tuple[AccessRules, AccessRules, AccessRules]:
        return (self, self.workspace, self.channel)


class HeavyConfig(_Strict):
    """The whole operator configuration. Per-channel overrides are layered on a copy of it."""

    providers: dict[str, ProviderConfig] = Field(
        default_factory=lambda: {
            "openrouter": ProviderConfig(
                base_url="https://openrouter.ai/api/v1",
                api_key_env="OPENROUTER_API_KEY",
                headers={"HTTP-Referer": "https://github.com/heavy-bot/heavy", "X-Title": "heavy"},
            ),
            SIMULATED_PROVIDER: ProviderConfig(type="simulated"),
        }
    )
    provider: str = "openrouter"
    model: str = Field(default="openai/gpt-4o-mini", min_length=1, max_length=200)
    orchestrator_model: str | None = Field(default=None, min_length=1, max_length=200)
    agents: int | Literal["auto"] = 4  # 1-MAX_AGENTS, or auto: the decomposition picks 1..max_agents
    max_agents: int = Field(default=8, ge=1, le=MAX_AGENTS)
    rounds: int = Field(default=1, ge=1, le=2)  # 2: agents compare notes before synthesis
    roles: dict[str, str] = Field(default_factory=lambda: dict(_DEFAULT_ROLES), max_length=32)
    agent_roles: list[str] = Field(default_factory=list, max_length=MAX_AGENTS)  # by position
    budget: Budget = Field(default_factory=Budget)
    synthesis: Synthesis = Field(default_factory=Synthesis)
    agent_overrides: list[AgentOverride] = Field(default_factory=list, max_length=MAX_AGENTS)
    system_prompt: str | None = Field(default=None, max_length=8000)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_iterations: int = Field(default=8, ge=1, le=50)
    # MCP servers whose tools agents may use (`mcp__<server>` in `tools`); operator only.
    # Declared before `tools`: their validators read it.
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)
    tools: list[str] = Field(
        default_factory=lambda: [
            "calculate", "web_search", "fetch_url", "read_file", "write_file", "list_files",
            "mark_task_complete",
        ]
    )
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: Limits = Field(default_factory=Limits)
    prompts: Prompts = Field(default_factory=Prompts)
    tool_settings: ToolSettings = Field(default_factory=ToolSettings)
    # `web_search`'s back-ends: `backend`, then `fallback` in order (see _search_config.py).
    search: SearchConfig = Field(default_factory=SearchConfig)
    allowed_models: list[str] = Field(default_factory=list)
    # Tools channel admins may enable (empty: no more than the operator's own `tools`).
    allowed_tools: list[str] = Field(default_factory=list)
    # Models given attached images (ids or globs); others get only the files' text.
    vision_models: list[str] = Field(
        default_factory=lambda: ["openai/gpt-4o*", "anthropic/claude-*", "google/gemini-*"],
        max_length=100)
    # Chat user ids (`U123`, or `slack:U123` for one platform) that may change channel settings.
    admins: list[str] = Field(default_factory=list)
    # Chat front ends: answer only when mentioned, or also follow replies in the bot's threads.
    thread_policy: Literal["mention", "follow"] = "mention"
    # Who may ask (allow_users, block_users, allow_roles); channels and workspaces add theirs.
    access: Access = Field(default_factory=Access)
    max_question_chars: int = Field(default=8000, ge=10, le=100_000)

    @field_validator("agents", mode="before")
    @classmethod
    def _agents(cls, v: Any) -> Any:
        # strict like every other setting: `true` or "3" is refused, not coerced
        if isinstance(v, str) and v.strip().lower() == "auto":
            return "auto"
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"Input should be a valid integer from 1 to {MAX_AGENTS}, or auto")
        if v < 1:
            raise ValueError("Input should be greater than or equal to 1")
        if v > MAX_AGENTS:
            raise ValueError(f"Input should be less than or equal to {MAX_AGENTS}")
        return v

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("tool names must be unique")
        return v

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_names(cls, v: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        check_server_names(v)
        return v

    @field_validator("tools", "allowed_tools")
    @classmethod
    def _mcp_tools_known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        servers = info.data.get("mcp_servers")
        if servers is not None:  # else mcp_servers itself was refused, and said so
            _check_mcp_names(v, servers)
        return v

    @model_validator(mode="after")
    def _providers_exist(self) -> HeavyConfig:
        if self.provider not in self.providers:
            raise ValueError(
                f"provider {self.provider!r} is not defined under providers "
                f"(defined: {', '.join(sorted(self.providers))})"
            )
        for i, o in enumerate(self.agent_overrides):
            if o.provider is not None and o.provider not in self.providers:
                raise ValueError(f"agent_overrides.{i}.provider {o.provider!r} is not defined")
        for i, o in enumerate(self.agent_overrides):
            try:
                _check_mcp_names(o.tools or [], self.mcp_servers)
            except ValueError as err:
                raise ValueError(f"agent_overrides.{i}.tools: {err}") from None
        roles = [*self.agent_roles, *(o.role for o in self.agent_overrides if o.role)]
        if unknown := [r for r in roles if r not in self.roles]:
            raise ValueError(f"unknown role {unknown[0]!r} (roles: {', '.join(self.roles)})")
        return self

    @property
    def auto_agents(self) -> bool:
        return self.agents == "auto"

    @property
    def agent_count(self) -> int:
        """The fixed number of agents; 0 for `auto` (the decomposition decides)."""
        return 0 if self.agents == "auto" else int(self.agents)

    def role_of(self, index: int) -> str | None:
        """The role preset of agent `index` (0-based): its own override, else `agent_roles`."""
        over = self.agent_overrides[index] if index < len(self.agent_overrides) else None
        if over is not None and over.role:
            return over.role
        return self.agent_roles[index] if index < len(self.agent_roles) else None

    @property
    def choosable_tools(self) -> list[str]:
        """What a channel may enable: `allowed_tools`, else the operator's own `tools`."""
        return self.allowed_tools or self.tools

    @property
    def effective_orchestrator_model(self) -> str:
        return self.orchestrator_model or self.model

    def model_on(self, provider: str, model: str) -> str:
        """The model that really answers on `provider`: `simulated` on the simulated provider
        (a footer must not name a model that never ran), else `model`."""
        return SIMULATED_MODEL if self.providers[provider].type == "simulated" else model

    def with_overrides(self, overrides: Mapping[str, Any]) -> HeavyConfig:
        """A validated copy with `overrides` merged in (nested dicts merge, lists replace)."""
        return validate_config(_deep_merge(self.model_dump(mode="python"), overrides))


def _check_mcp_names(names: list[str], servers: Mapping[str, McpServerConfig]) -> None:
    if unknown := unknown_mcp_names(names, servers):
        raise ValueError(
            f"{unknown[0]!r} names no server under mcp_servers (mcp__<server> or "
            f"mcp__<server>__<tool>; configured: {', '.join(sorted(servers)) or 'none'})")


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_SECRET_WORDS = frozenset({"key", "token", "secret", "password", "env"})


def _may_be_secret(loc: tuple[int | str, ...]) -> bool:
    """A value under a key like `api_key`, `token` or `*_env` may be a pasted secret: never
    echo it (`budget.tokens` is a count, not a secret)."""
    last = str(loc[-1]).lower() if loc else ""
    return not _SECRET_WORDS.isdisjoint(re.split(r"[_\W]+", last))


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """One line per problem: `key.path: rule (got value)`; a misspelled key gets the nearest
    real one (`agnets: ... did you mean agents?`)."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None or _may_be_secret(
            e["loc"]) else f" (got {got!r})"
        hint = ""
        if e["type"] == "extra_forbidden" and e["loc"]:
            near = difflib.get_close_matches(str(e["loc"][-1]), _keys_at(e["loc"][:-1]), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"{prefix}{path}: {msg}{shown}{hint}")
    return "\n".join(lines)


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys `HeavyConfig` accepts at `loc` (through nested models, their dicts and lists)."""
    model: Any = HeavyConfig
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:  # a dict key or a list index: the model is the container's value
            continue
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside `X`, `X | None`, `dict[str, X]` or `list[X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validate_question(question: str, config: HeavyConfig) -> str:
    """The question stripped, or `RequestRejected` saying why it cannot be asked."""
    q = question.strip()
    if not q:
        raise RequestRejected("The question is empty: ask something after the command.")
    if len(q) > config.max_question_chars:
        raise RequestRejected(
            f"The question is {len(q)} characters long; the limit is {config.max_question_chars}."
        )
    return q


def validate_config(data: Mapping[str, Any]) -> HeavyConfig:
    try:
        return HeavyConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err)) from None


def apply_env(config: HeavyConfig, env: Mapping[str, str]) -> HeavyConfig:
    """`HEAVY_LLM_BASE_URL`, `HEAVY_LLM_API_KEY` and `HEAVY_MODEL` override the default provider.

    `HEAVY_MODEL` replaces both the agent and the orchestrator model, so pointing the bot at a
    local server needs no YAML edit.
    """
    base_url = env.get("HEAVY_LLM_BASE_URL")
    if not (base_url or env.get("HEAVY_LLM_API_KEY") or env.get("HEAVY_MODEL")):
        return config
    data = config.model_dump(mode="python")
    prov = data["providers"][config.provider]  # replaced whole: headers must be able to go
    if base_url:
        prov.update(type="openai", base_url=base_url.rstrip("/"))
        if "openrouter.ai" not in base_url:
            prov["headers"] = {}
    if env.get("HEAVY_LLM_API_KEY"):
        prov["api_key_env"] = "HEAVY_LLM_API_KEY"
    elif base_url:
        prov["api_key_env"] = None
    if env.get("HEAVY_MODEL"):
        data.update(model=env["HEAVY_MODEL"], orchestrator_model=None)
    try:
        return validate_config(data)
    except ConfigError as err:
        raise ConfigError(f"environment override: {err}") from None


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> HeavyConfig:
    """Load `--config`, else `$HEAVY_CONFIG`, else ./config.yaml (defaults when absent)."""
    env = os.environ if env is None else env
    chosen = Path(path) if path else Path(env["HEAVY_CONFIG"]) if env.get("HEAVY_CONFIG") else None
    source = chosen or DEFAULT_CONFIG_PATH
    data: Any = {}
    if source.exists():
        try:
            with source.open(encoding="utf-8") as stream:  # a stream: errors name the file
                data = yaml.safe_load(stream) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys")
    elif chosen is not None:
        raise ConfigError(f"{source}: no such config file")
    try:
        config = validate_config(data)
    except ConfigError as err:
        raise ConfigError(f"{source}: invalid configuration\n{err}") from None
    return apply_env(config, env)


def simulated_fallback(config: HeavyConfig, env: Mapping[str, str]) -> str | None:
    """Why the default provider cannot run (missing key), or None when it can."""
    prov = config.providers[config.provider]
    if prov.type != "openai" or not prov.api_key_env:
        return None
    if prov.api_key(env) is None and "HEAVY_LLM_BASE_URL" not in env:
        return f"{prov.api_key_env} is not set"
    return None


def use_simulated(config: HeavyConfig) -> HeavyConfig:
    """A copy that runs every agent on the offline simulated model."""
    own = config.providers.get(SIMULATED_PROVIDER)  # keeps config.yaml's `pace`
    simulated = own if own is not None and own.type == "simulated" else ProviderConfig(
        type="simulated")
    if simulated.pace is None:  # a first run should look like a real one: agents at work
        simulated = simulated.model_copy(update={"pace": SIMULATED_PACE})
    providers = {**config.providers, SIMULATED_PROVIDER: simulated}
    return config.model_copy(
        update={
            "providers": providers,
            "provider": SIMULATED_PROVIDER,
            "model": SIMULATED_MODEL,
            "orchestrator_model": None,
            "agent_overrides": [
                o.model_copy(update={"provider": None, "model": None})
                for o in config.agent_overrides
            ],
        }
    )
