"""`/heavy-config`: who may change settings on Discord, and what the replies say.

Discord's `default_member_permissions` is only a hint (server admins can override it), so the
rule is checked here too: Manage Channels for a channel, Manage Server for the server default,
or an id in the operator's `admins` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import discord

from heavy_engine.settings import AnyOf, AuditEntry, ConfigAdmins, Resolved, Scope

PLATFORM = "discord"
SHOWN_KEYS = ("model", "orchestrator_model", "agents", "thread_policy", "temperature", "timeout",
              "max_iterations", "system_prompt", "tools")


class DiscordPermissions:
    """An `AdminPolicy` from the permissions Discord resolved for one interaction."""

    def __init__(self, permissions: discord.Permissions) -> None:
        self.permissions = permissions

    async def can_edit(self, user: str, scope: Scope) -> bool:
        if scope.is_workspace:
            return self.permissions.manage_guild
        return self.permissions.manage_channels


def policy(permissions: discord.Permissions, admins: Iterable[str]) -> AnyOf:
    return AnyOf(DiscordPermissions(permissions), ConfigAdmins(admins))


def refusal(scope: Scope) -> str:
    """Why a change was refused, naming what would allow it."""
    if scope.is_workspace:
        return ("Changing the server default needs the **Manage Server** permission "
                "(or being listed in the operator's `admins`).")
    return ("Changing this channel's settings needs the **Manage Channels** permission "
            "(or being listed in the operator's `admins`).")


def where(scope: Scope) -> str:
    return "the server default" if scope.is_workspace else f"<#{scope.channel}>"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


def show_text(scope: Scope, resolved: Resolved, last: AuditEntry | None) -> str:
    """The effective settings of a scope, each with the layer it comes from."""
    lines = [f"**heavy settings for {where(scope)}**"]
    for key in SHOWN_KEYS:
        if key in resolved.values:
            source = resolved.sources.get(key, "default")
            origin = {"default": "operator default", "workspace": "server default",
                      "channel": "this channel", "request": "request"}.get(source, source)
            lines.append(f"`{key}` = `{_value(resolved.values[key])}` · {origin}")
    if last is not None:
        lines.append(f"-# Last change: {last.action} by {_actor(last.by)}, "
                     f"<t:{int(last.at.timestamp())}:R> (version {last.version})")
    return "\n".join(lines)


def _actor(actor: str) -> str:
    kind, _, uid = actor.partition(":")
    return f"<@{uid}>" if kind == PLATFORM and uid.isdigit() else f"`{actor}`"


def changed_text(scope: Scope, values: Mapping[str, Any], version: int) -> str:
    pairs = ", ".join(f"`{k}` = `{_value(v)}`" for k, v in values.items())
    return f"Saved for {where(scope)}: {pairs} (version {version})."
