"""The Stop button on a progress card.

A `DynamicItem`: the job id and the requester live in the custom id, so the button keeps
working after a restart without storing one view per message.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

STOP_PATTERN = r"heavy:stop:(?P<job>[\w-]{1,60}):(?P<user>\d{1,20})"


class StopHandler(Protocol):
    async def on_stop(self, interaction: discord.Interaction, job_id: str, requester: int) -> None:
        ...


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
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str],
        /,
    ) -> StopButton:
        return cls(match["job"], int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        # The client carries the adapter (`heavy`), so no global state is needed here.
        handler: StopHandler | None = getattr(interaction.client, "heavy", None)
        if handler is not None:
            await handler.on_stop(interaction, self.job_id, self.requester)


def stop_view(job_id: str, requester: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StopButton(job_id, requester))
    return view
