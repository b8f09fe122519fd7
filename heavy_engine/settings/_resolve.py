"""The one place that knows the order of the layers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..core import HeavyConfig
from ._errors import SettingsRefused
from ._keys import ACCESS_KEYS, to_overrides
from ._rules import check_values, keep_valid
from ._types import Resolved, Source


def layer(
    base: HeavyConfig,
    workspace: Mapping[str, Any],
    channel: Mapping[str, Any],
    flags: Mapping[str, Any],
    *,
    known_tools: Collection[str] | None = None,
    where: str = "",
) -> Resolved:
    """config.yaml (`base`), then the workspace default, then the channel, then request flags.

    Stored layers are re-checked and a value the operator's rules no longer allow is skipped
    (logged); a bad request flag raises `SettingsRefused`.
    """
    layers: list[tuple[Source, dict[str, Any]]] = [
        ("workspace", keep_valid(base, workspace, known_tools, f"{where} (workspace)")),
        ("channel", keep_valid(base, channel, known_tools, f"{where} (channel)")),
        ("request", check_values(base, flags, known_tools)),
    ]
    merged: dict[str, Any] = {}
    origin: dict[str, Source] = {}
    # Who may ask is kept per level, not replaced: each level is checked on its own.
    access: dict[str, dict[str, Any]] = {}
    for source, values in layers:
        for key in [k for k in values if k in ACCESS_KEYS]:
            if source == "request":
                raise SettingsRefused(key, "can only be set for a workspace or a channel")
            access.setdefault(source, {})[key] = values.pop(key)
            origin[key] = source
        merged.update(values)
        origin.update(dict.fromkeys(values, source))
    overrides = to_overrides(base, merged)
    if access:
        overrides["access"] = access
    return Resolved(base.with_overrides(overrides) if overrides else base, origin)
