"""`/heavy-config`: who may change settings on Discord, and what the replies say.

Discord's `default_member_permissions` is only a hint (server admins can override it), so the
rule is checked here too: Manage Channels for a channel, Manage Server for the server default,
or an id in the operator's `admins` list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import discord

from heavy_engine.jobs import Services
from heavy_engine.settings import (
    AnyOf,
    AuditEntry,
    ConfigAdmins,
    Resolved,
    Scope,
    SettingsConflict,
    SettingsForbidden,
    SettingsRefused,
    ensure_can_edit,
    normalize_key,
)

from ._commands import ScopeName
from ._render import NO_MENTIONS

log = logging.getLogger("heavy.discord")
PLATFORM = "discord"
SHOWN_KEYS = ("model", "orchestrator_model", "agents", "thread_policy", "temperature", "timeout",
              "max_iterations", "system_prompt", "tools", "allow_users", "block_users",
              "allow_roles")


class ConfigCommands:
    """The handlers of `/heavy-config show | set | reset`; replies are ephemeral.

    Every reply defers first (the store may be slow); the store audits each change with the
    actor `discord:<user id>`.
    """

    def __init__(self, services: Services) -> None:
        self.services = services

    def _scope(self, interaction: discord.Interaction, scope: ScopeName) -> Scope:
        assert interaction.guild_id is not None  # the group is guild-only
        if scope == "server":
            return Scope(PLATFORM, str(interaction.guild_id))
        channel = interaction.channel
        channel_id = channel.parent_id if isinstance(channel, discord.Thread) \
            else interaction.channel_id
        return Scope(PLATFORM, str(interaction.guild_id), str(channel_id))

    async def _may_edit(self, interaction: discord.Interaction, scope: Scope) -> bool:
        try:
            await ensure_can_edit(policy(interaction.permissions, self.services.config.admins),
                                  str(interaction.user.id), scope)
        except SettingsForbidden:
            log.info("refused settings change by %s for %s", interaction.user.id, scope)
            await interaction.followup.send(refusal(scope), ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)
            return False
        return True

    async def show(self, interaction: discord.Interaction, scope: ScopeName) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = self._scope(interaction, scope)
        store = self.services.settings
        resolved = await store.resolve(PLATFORM, target.workspace, target.channel or None)
        history = await store.history(target, limit=1)
        last = history[0] if history else None
        await interaction.followup.send(show_text(target, resolved, last), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)

    async def set(self, interaction: discord.Interaction, scope: ScopeName,
                  values: dict[str, object]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = self._scope(interaction, scope)
        if not await self._may_edit(interaction, target):
            return
        if not values:
            await interaction.followup.send("Nothing to change: pick at least one setting.",
                                            ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        try:
            saved = await self.services.settings.set(target, values, actor=self._actor(interaction))
        except (SettingsRefused, SettingsConflict) as err:
            await interaction.followup.send(f"Not saved: {err.user_message}", ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)
            return
        log.info("settings of %s set by %s: %s", target, interaction.user.id, sorted(values))
        await interaction.followup.send(changed_text(target, values, saved.version),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def reset(self, interaction: discord.Interaction, scope: ScopeName,
                    setting: str | None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = self._scope(interaction, scope)
        if not await self._may_edit(interaction, target):
            return
        store, actor = self.services.settings, self._actor(interaction)
        try:
            if setting:
                saved = await store.unset(target, [normalize_key(setting)], actor=actor)
            else:
                saved = await store.reset(target, actor=actor)
        except (SettingsRefused, SettingsConflict) as err:
            await interaction.followup.send(f"Not reset: {err.user_message}", ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)
            return
        what = f"`{setting}`" if setting else "every setting"
        log.info("settings of %s reset (%s) by %s", target, what, interaction.user.id)
        await interaction.followup.send(
            f"Reset {what} for {where(target)}; it inherits again (version {saved.version}).",
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @staticmethod
    def _actor(interaction: discord.Interaction) -> str:
        return f"{PLATFORM}:{interaction.user.id}"


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
