"""The operator's rules, applied to every write and every per-request flag."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from ..core import PREFIX as MCP_PREFIX
from ..core import ConfigError, HeavyConfig, permits
from ._errors import SettingsRefused
from ._keys import (
    ACCESS_KEYS,
    is_model_key,
    normalize_key,
    parse_value,
    read_value,
    to_overrides,
)

log = logging.getLogger(__name__)


def check_value(
    base: HeavyConfig, key: str, raw: Any, known_tools: Collection[str] | None
) -> tuple[str, Any]:
    """(canonical key, typed value) or `SettingsRefused` naming the key and what is allowed."""
    key = normalize_key(key)
    value = parse_value(key, raw)
    try:
        # The same pydantic rules as config.yaml: bounds, types, choices.
        checked = base.with_overrides(to_overrides(base, {key: value}))
    except ConfigError as err:
        raise SettingsRefused(key, _without_paths(str(err))) from None
    # An access list is validated at the operator's level; read back just what was given.
    value = getattr(checked.access, key) if key in ACCESS_KEYS else read_value(checked, key)
    listed = value is None or not base.allowed_models or value in base.allowed_models
    if is_model_key(key) and not listed:  # None means "inherit", always allowed
        raise SettingsRefused(
            key, f"{value!r} is not allowed; allowed models: {', '.join(base.allowed_models)}")
    if key == "tools" and known_tools is not None:
        # MCP names were checked against `mcp_servers` by the config's own rules above.
        unknown = [n for n in value if n not in known_tools and not n.startswith(MCP_PREFIX)]
        if unknown:
            raise SettingsRefused(key, f"unknown tool {', '.join(map(repr, unknown))}; known: "
                                       f"{', '.join(sorted(known_tools)) or 'none'}")
    barred = [] if key != "tools" else [
        t for t in value if not permits(base.choosable_tools, t, base.mcp_servers)]
    if barred:
        raise SettingsRefused(key, f"{', '.join(map(repr, barred))} not allowed here; allowed "
                                   f"tools: {', '.join(base.choosable_tools) or 'none'}")
    return key, value


def check_values(
    base: HeavyConfig, values: Mapping[str, Any], known_tools: Collection[str] | None
) -> dict[str, Any]:
    """Every value checked (first refusal raised); keys canonical, values typed."""
    return dict(check_value(base, key, raw, known_tools) for key, raw in values.items())


def keep_valid(
    base: HeavyConfig, values: Mapping[str, Any], known_tools: Collection[str] | None,
    where: str,
) -> dict[str, Any]:
    """Stored values that still pass; the operator may have tightened the rules since."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        try:
            canonical, value = check_value(base, key, raw, known_tools)
        except SettingsRefused as err:
            log.warning("ignoring stored setting for %s: %s", where, err)
            continue
        out[canonical] = value
    return out


def _without_paths(message: str) -> str:
    # Lines read "timeouts.request: rule (got x)"; the caller names the user's key instead.
    reasons = [line.partition(": ")[2] or line for line in message.splitlines()]
    return "; ".join(dict.fromkeys(reasons))
