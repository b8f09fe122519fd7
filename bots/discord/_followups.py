"""The "Regenerate" and "Go deeper" buttons under a final answer.

`DynamicItem`s like Stop: the custom id carries only the action and the job id
(`heavy:regenerate:<job>`), so they keep working after a restart with no stored view, and
nothing in them is trusted: the press is checked against the job record
(`heavy_engine.conversations.follow_up`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from heavy_engine.conversations import Action

FOLLOW_UP_PATTERN = r"heavy:(?P<action>regenerate|deeper):(?P<job>[\w-]{1,60})"
FollowUpHandler = Callable[[discord.Interaction, Action, str], Awaitable[None]]
Button = discord.ui.DynamicItem[discord.ui.Button[Any]]
_LABELS: dict[str, tuple[str, str]] = {"regenerate": ("Regenerate", "🔁"),
                                      "deeper": ("Go deeper", "🔎")}


def follow_up_button(on_press: FollowUpHandler) -> type[Button]:
    """A button class whose presses go to `on_press(interaction, action, job_id)`."""

    class FollowUpButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                         template=FOLLOW_UP_PATTERN):
        def __init__(self, action: Action, job_id: str) -> None:
            label, emoji = _LABELS[action]
            super().__init__(discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, emoji=emoji,
                custom_id=f"heavy:{action}:{job_id}",
            ))
            self.action: Action = action
            self.job_id = job_id

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
            match: re.Match[str], /,
        ) -> FollowUpButton:
            action: Action = "deeper" if match["action"] == "deeper" else "regenerate"
            return cls(action, match["job"])

        async def callback(self, interaction: discord.Interaction) -> None:
            await on_press(interaction, self.action, self.job_id)

    return FollowUpButton


def answer_views(button: type[Button]) -> Callable[[str], discord.ui.View]:
    """`view(job_id)`: the two buttons under a final answer."""

    def view(job_id: str) -> discord.ui.View:
        made = discord.ui.View(timeout=None)
        made.add_item(button("regenerate", job_id))  # type: ignore[call-arg,arg-type]
        made.add_item(button("deeper", job_id))  # type: ignore[call-arg,arg-type]
        return made

    return view
