"""The application commands: `/heavy` and `/heavy-config show | set | reset`.

Only declarations live here (names, options, choices, bounds, permissions); the adapter does
the work. Choices come from the operator's configuration when the tree is built.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from heavy_engine import MAX_AGENTS, HeavyConfig

from ._guard import GuardedTree

ScopeName = Literal["channel", "server"]
ThreadPolicy = Literal["mention", "follow"]
ResettableKey = Literal["model", "agents", "thread_policy", "temperature", "timeout",
                        "system_prompt", "allow_users", "block_users", "allow_roles"]
MAX_CHOICES = 25  # Discord's limit for both choices and autocomplete results
# Where the commands may be used. /heavy: servers, the bot's DMs, and (user installs) group DMs
# and other servers' channels, where answers go through the interaction's webhook.
# /heavy-config changes a server's or channel's settings: servers only, server installs only.
ASK_CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
ASK_INSTALLS = app_commands.AppInstallationType(guild=True, user=True)
CONFIG_CONTEXTS = app_commands.AppCommandContext(guild=True)
CONFIG_INSTALLS = app_commands.AppInstallationType(guild=True)


class AskHandler(Protocol):
    async def ask(self, interaction: discord.Interaction, question: str, agents: int | None,
                  model: str | None) -> None: ...


class ConfigHandlers(Protocol):
    async def show(self, interaction: discord.Interaction, scope: ScopeName) -> None: ...

    async def set(self, interaction: discord.Interaction, scope: ScopeName,
                  values: dict[str, object]) -> None: ...

    async def reset(self, interaction: discord.Interaction, scope: ScopeName,
                    setting: str | None) -> None: ...


def id_list(text: str | None) -> list[str] | None:
    """"1, 2 3" -> ["1", "2", "3"]; "none" -> [] (clears); None stays None (not given).
    Mentions pasted instead of ids (<@1>, <@&2>) count as their ids."""
    if text is None:
        return None
    if text.strip().lower() in ("none", "-", "[]"):
        return []
    return [part.strip("<@&!>") for part in text.replace(",", " ").split()]


def model_choices(allowed: list[str], current: str) -> list[app_commands.Choice[str]]:
    """Allowed models matching what the user typed so far (at most 25)."""
    needle = current.lower()
    found = [m for m in allowed if needle in m.lower()]
    return [app_commands.Choice(name=m[:100], value=m) for m in found[:MAX_CHOICES]]


def build_tree(
    client: discord.Client, config: HeavyConfig, asker: AskHandler, settings: ConfigHandlers
) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = GuardedTree(client)
    allowed = list(config.allowed_models)

    async def autocomplete_model(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(allowed, current)

    @app_commands.describe(
        question="What to research", agents=f"How many agents work on it (1-{MAX_AGENTS})",
        model="The model the agents use",
    )
    async def heavy(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 6000],
        agents: app_commands.Range[int, 1, MAX_AGENTS] | None = None,
        model: str | None = None,
    ) -> None:
        await asker.ask(interaction, question, agents, model)

    ask: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="heavy", description="Several agents research your question; one answer comes back",
        callback=heavy, allowed_contexts=ASK_CONTEXTS, allowed_installs=ASK_INSTALLS,
    )
    ask.autocomplete("model")(autocomplete_model)
    tree.add_command(ask)

    group = app_commands.Group(
        name="heavy-config", description="heavy's settings for this channel or server",
        default_permissions=discord.Permissions(manage_channels=True), guild_only=True,
        allowed_contexts=CONFIG_CONTEXTS, allowed_installs=CONFIG_INSTALLS,
    )

    @app_commands.describe(scope="This channel, or the server default")
    async def show(interaction: discord.Interaction, scope: ScopeName = "channel") -> None:
        await settings.show(interaction, scope)

    @app_commands.describe(
        scope="This channel, or the server default", model="Model for the agents",
        agents=f"How many agents (1-{MAX_AGENTS})", thread_policy="Answer replies in my threads "
        "without a mention (follow) or only when mentioned (mention)",
        temperature="Sampling temperature (0-2)", timeout="Seconds a whole run may take",
        system_prompt="Extra instructions for every agent",
        allow_users="Only these user ids may ask (comma separated; 'none' clears)",
        block_users="These user ids may not ask (comma separated; 'none' clears)",
        allow_roles="Only members with these role ids may ask (comma separated; 'none' clears)",
    )
    async def set_(
        interaction: discord.Interaction,
        scope: ScopeName = "channel",
        model: str | None = None,
        agents: app_commands.Range[int, 1, MAX_AGENTS] | None = None,
        thread_policy: ThreadPolicy | None = None,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        timeout: app_commands.Range[int, 10, 3600] | None = None,  # noqa: ASYNC109 - an option
        system_prompt: app_commands.Range[str, 1, 2000] | None = None,
        allow_users: app_commands.Range[str, 1, 1000] | None = None,
        block_users: app_commands.Range[str, 1, 1000] | None = None,
        allow_roles: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        values: dict[str, object] = {
            "model": model, "agents": agents, "thread_policy": thread_policy,
            "temperature": temperature, "timeout": timeout, "system_prompt": system_prompt,
            "allow_users": id_list(allow_users), "block_users": id_list(block_users),
            "allow_roles": id_list(allow_roles)}
        await settings.set(interaction, scope, {k: v for k, v in values.items() if v is not None})

    if 0 < len(allowed) <= MAX_CHOICES:  # real choices when they fit, else autocomplete
        set_ = app_commands.choices(
            model=[app_commands.Choice(name=m[:100], value=m) for m in allowed])(set_)
    set_cmd: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="set", description="Change a setting", callback=set_)
    if not 0 < len(allowed) <= MAX_CHOICES:
        set_cmd.autocomplete("model")(autocomplete_model)

    @app_commands.describe(scope="This channel, or the server default",
                           setting="Only this setting (default: all of them)")
    async def reset(interaction: discord.Interaction, scope: ScopeName = "channel",
                    setting: ResettableKey | None = None) -> None:
        await settings.reset(interaction, scope, setting)

    group.add_command(app_commands.Command(
        name="show", description="Show the effective settings", callback=show))
    group.add_command(set_cmd)
    group.add_command(app_commands.Command(
        name="reset", description="Go back to the inherited settings", callback=reset))
    tree.add_command(group)
    return tree
