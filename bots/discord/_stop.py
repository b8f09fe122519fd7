"""The Stop button on a progress card.

A `DynamicItem`: the job id and the requester live in the custom id, so the button keeps
working after a restart without storing one view per message. The class is made per adapter
with its handler bound in, so no global state and no attribute on the client carry it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

STOP_PATTERN = r"heavy:stop:(?P<job>[\w-]{1,60}):(?P<user>\d{1,20})"
StopHandler = Callable[[discord.Interaction, str, int], Awaitable[None]]
Button = discord.ui.DynamicItem[discord.ui.Button[Any]]


def stop_button(on_stop: StopHandler) -> type[Button]:
    """A Stop button class whose presses go to `on_stop(interaction, job_id, requester)`."""

    class StopButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=STOP_PATTERN):
        def __init__(self, job_id: str, requester: int) -> None:
            super().__init__(discord.ui.Button(
                label="Stop", style=discord.ButtonStyle.danger, emoji="⏹️",
                custom_id=f"heavy:stop:{job_id}:{requester}",
            ))
            self.job_id = job_id
            self.requester = requester

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
            match: re.Match[str], /,
        ) -> StopButton:
            return cls(match["job"], int(match["user"]))

        async def callback(self, interaction: discord.Interaction) -> None:
            await on_stop(interaction, self.job_id, self.requester)

    return StopButton


def stop_views(button: type[Button]) -> Callable[[str, int], discord.ui.View]:
    """`view(job_id, requester)`: a card's view holding one Stop button."""

    def view(job_id: str, requester: int) -> discord.ui.View:
        made = discord.ui.View(timeout=None)
        made.add_item(button(job_id, requester))  # type: ignore[call-arg,arg-type]
        return made

    return view
