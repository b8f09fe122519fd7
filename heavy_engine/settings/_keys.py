"""The overridable keys, and how each maps onto `HeavyConfig`.

Keys are flat strings, the same on the command line, in chat and in storage:
`model`, `timeout`, `agent.2.model` (agents count from 1), ... Values stored are the
validated, typed values (`agents` is an int, `tools` a list).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..core import MAX_AGENTS, HeavyConfig
from ._errors import SettingsRefused

# Key -> path of attributes in HeavyConfig.
PATHS: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "orchestrator_model": ("orchestrator_model",),
    "agents": ("agents",),
    "system_prompt": ("system_prompt",),
    "temperature": ("temperature",),
    "max_iterations": ("max_iterations",),
    "timeout": ("timeouts", "request"),
    "tools": ("tools",),
    # a back-end among those config.yaml's `search:` lists, tried first; never a URL or key
    "search": ("search", "prefer"),
    "thread_policy": ("thread_policy",),
    "rounds": ("rounds",),
    "max_agents": ("max_agents",),
    "roles": ("agent_roles",),
    "budget_tokens": ("budget", "tokens"),
    "budget_cost_usd": ("budget", "cost_usd"),
    "quorum": ("synthesis", "quorum"),
    "grace_s": ("synthesis", "grace_s"),
    "instructions": ("synthesis", "instructions"),
    "synthesis_temperature": ("synthesis", "temperature"),
    "synthesis_max_tokens": ("synthesis", "max_tokens"),
    "allow_users": ("access", "allow_users"),
    "block_users": ("access", "block_users"),
    "allow_roles": ("access", "allow_roles"),
}
AGENT_FIELDS = ("model", "system_prompt", "role")
# Settings where an empty value or "none" means "unset" (inherit / unlimited / off).
_NULLABLE = frozenset({"budget_tokens", "budget_cost_usd", "quorum", "search", "instructions",
                       "synthesis_temperature", "synthesis_max_tokens"})
# Who may ask: stored per level and checked level by level (see `HeavyConfig.access`).
ACCESS_KEYS = ("allow_users", "block_users", "allow_roles")
_LIST_KEYS = ("tools", "roles", *ACCESS_KEYS)
_MENTION = re.compile(r"^<@[!&]?([^<>]+)>$")  # <@U123>, <@!123>, <@&123> as pasted in chat
_AGENT_KEY = re.compile(r"agent\.(\d+)\.(\w+)")
# Keys whose values are numbers: text for them is parsed here, strictly (no bools, no hex,
# no nan or inf, a bounded number of digits), and pydantic (strict) checks the rest.
_INT_KEYS = frozenset({"agents", "max_iterations", "rounds", "max_agents", "budget_tokens",
                        "quorum", "synthesis_max_tokens"})
_FLOAT_KEYS = frozenset({"temperature", "timeout", "budget_cost_usd", "grace_s",
                         "synthesis_temperature"})
_INT_TEXT = re.compile(r"[+-]?\d{1,9}")
_FLOAT_TEXT = re.compile(r"[+-]?(\d{1,9}(\.\d{0,9})?|\.\d{1,9})([eE][+-]?\d{1,3})?")
KEY_HELP = ", ".join([*PATHS, *(f"agent.N.{f}" for f in AGENT_FIELDS)])


def normalize_key(key: str) -> str:
    """The canonical spelling of `key`, or `SettingsRefused` naming the keys that exist."""
    key = key.strip()
    if key in PATHS:
        return key
    m = _AGENT_KEY.fullmatch(key)
    if m and m[2] in AGENT_FIELDS:
        n = int(m[1]) if len(m[1]) <= 3 else 0  # int() of 5000 digits would raise
        if not 1 <= n <= MAX_AGENTS:
            raise SettingsRefused(key, f"agents are numbered 1 to {MAX_AGENTS}")
        return f"agent.{n}.{m[2]}"
    raise SettingsRefused(key, f"not a setting you can change; these are: {KEY_HELP}")


def agent_key(key: str) -> tuple[int, str] | None:
    """(0-based agent index, field) for a normalised `agent.N.field` key."""
    m = _AGENT_KEY.fullmatch(key)
    return (int(m[1]) - 1, m[2]) if m else None


def is_model_key(key: str) -> bool:
    found = agent_key(key)
    return key in ("model", "orchestrator_model") or (found is not None and found[1] == "model")


def parse_value(key: str, raw: Any) -> Any:
    """Turn command-line text into the type pydantic expects; other text is left for pydantic
    (strict) to refuse with the key's rule."""
    if key in _LIST_KEYS and isinstance(raw, str):
        raw = [name.strip() for name in raw.split(",") if name.strip()]
    if key in ACCESS_KEYS and isinstance(raw, list):
        return [_MENTION.sub(r"\1", str(item).strip()) for item in raw]
    if isinstance(raw, list):
        return raw
    if key in _NULLABLE and isinstance(raw, str) and raw.strip().lower() in ("", "none", "off"):
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if key in _INT_KEYS and _INT_TEXT.fullmatch(text):
            return int(text)
        if key in _FLOAT_KEYS and _FLOAT_TEXT.fullmatch(text):
            return float(text)
    return raw


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["model=x", "agents=3"]` -> `{"model": "x", "agents": "3"}` (split at the first `=`)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SettingsRefused(item, "expected key=value")
        out[normalize_key(key)] = value
    return out


def to_overrides(base: HeavyConfig, values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat keys -> a mapping for `HeavyConfig.with_overrides` (agent lists built on `base`)."""
    out: dict[str, Any] = {}
    agents: list[dict[str, Any]] | None = None
    for key, value in values.items():
        found = agent_key(key)
        if found is not None:
            if agents is None:
                agents = [o.model_dump(mode="python") for o in base.agent_overrides]
            index, name = found
            agents.extend({} for _ in range(index + 1 - len(agents)))
            agents[index][name] = value
            continue
        *parents, leaf = PATHS[key]
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if agents is not None:
        out["agent_overrides"] = agents
    return out


def read_value(config: HeavyConfig, key: str) -> Any:
    """The value of flat `key` in `config`."""
    found = agent_key(key)
    if found is not None:
        index, name = found
        return getattr(config.agent_overrides[index], name) if index < len(
            config.agent_overrides) else None
    if key in ACCESS_KEYS:
        return access_value(config, key)
    node: Any = config
    for part in PATHS[key]:
        node = getattr(node, part)
    return list(node) if isinstance(node, list) else node


def access_value(config: HeavyConfig, key: str) -> list[str]:
    """What `key` amounts to over the levels: every blocked id, else the innermost allow list
    (each level's allow list is still checked on its own: see `jobs.may_ask`)."""
    levels = [getattr(rules, key) for rules in config.access.levels()]
    if key == "block_users":
        return list(dict.fromkeys(i for ids in levels for i in ids))
    return next((list(ids) for ids in reversed(levels) if ids), [])


def effective_values(config: HeavyConfig) -> dict[str, Any]:
    """Every overridable key's value in `config`; agent keys only where one is set."""
    out = {key: read_value(config, key) for key in PATHS}
    for i, override in enumerate(config.agent_overrides):
        for name in AGENT_FIELDS:
            if getattr(override, name) is not None:
                out[f"agent.{i + 1}.{name}"] = getattr(override, name)
    return out
