"""What keeps malformed interactions from reaching discord.py's command machinery, or from
ending the gateway connection.

discord.py trusts the shape of what the gateway sends: an application command whose `data` is
missing or holds wrong types raises inside its invoker task (an unanswered interaction and an
"exception was never retrieved"), and a component interaction without a `custom_id` raises
inside the gateway reader, which ends the connection. Here the command tree checks the shape
first (`interaction_check`, discord.py's public hook) and refuses politely; the parsers of
interactions and messages drop an event they cannot read with one warning instead of raising.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger("heavy.discord")

MALFORMED = "I could not read that command; please try again, or update your Discord client."
MAX_DEPTH = 3  # a command, a group, a subcommand: Discord nests options no deeper
_SAFE_INT = 2**53  # Discord's integer options are bounded by this
# Discord's option types and the JSON type of their value; 1 and 2 (subcommands, groups) nest.
_VALUE_TYPES: dict[int, tuple[type, ...]] = {
    3: (str,), 4: (int,), 5: (bool,), 6: (str,), 7: (str,), 8: (str,), 9: (str,),
    10: (int, float), 11: (str,),
}


def command_problem(data: Any) -> str | None:
    """Why an application command's `data` is not what Discord sends, or None when it is."""
    if not isinstance(data, dict):
        return "no command data"
    if not isinstance(data.get("name"), str) or not isinstance(data.get("type", 1), int):
        return "no command name or type"
    return _options_problem(data.get("options", []), depth=1)


def _options_problem(options: Any, *, depth: int) -> str | None:
    if not isinstance(options, list) or depth > MAX_DEPTH:
        return "options are not a list"
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("name"), str):
            return "an option without a name"
        kind = option.get("type")
        if kind in (1, 2):
            if (problem := _options_problem(option.get("options", []), depth=depth + 1)):
                return problem
            continue
        if kind not in _VALUE_TYPES:
            return f"option {option['name'][:40]!r} has an unknown type"
        value = option.get("value")
        if option.get("focused") and isinstance(value, str):
            continue  # autocomplete: what the user typed so far, whatever the option's type
        if (not isinstance(value, _VALUE_TYPES[kind]) or (kind != 5 and isinstance(value, bool))
                or (isinstance(value, int) and abs(value) > _SAFE_INT)):
            return f"option {option['name'][:40]!r} holds a {type(value).__name__}"
    return None


class GuardedTree(app_commands.CommandTree[discord.Client]):
    """A command tree that refuses malformed command data before parsing it."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        problem = command_problem(interaction.data)
        if problem is None:
            return True
        log.info("discord: a malformed command interaction %s refused: %s", interaction.id,
                 problem)
        if interaction.type is discord.InteractionType.application_command:
            try:
                await interaction.response.send_message(
                    MALFORMED, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as err:
                log.info("discord: could not answer interaction %s: %s", interaction.id, err)
        return False


# Events whose content people shape (commands, buttons, messages). Session events (READY,
# GUILD_CREATE) stay unguarded: a client that cannot read those should fail loudly.
GUARDED_EVENTS = ("INTERACTION_CREATE", "MESSAGE_CREATE", "MESSAGE_UPDATE")


def guard_parsers(client: discord.Client) -> None:
    """A `GUARDED_EVENTS` event discord.py cannot parse is dropped with a warning; the
    connection stays up. Uses `ConnectionState.parsers`, discord.py's table of handlers."""
    parsers: dict[str, Callable[[Any], None]] = client._connection.parsers
    for event in GUARDED_EVENTS:
        parse = parsers.get(event)
        if parse is not None and not getattr(parse, "_heavy_guarded", False):
            parsers[event] = _guarded(event, parse)


def _guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(parse)
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            log.warning("discord: dropped a %s event discord.py could not read (%s)", event,
                        type(err).__name__)

    guarded._heavy_guarded = True  # type: ignore[attr-defined]
    return guarded
