"""Discord's side of the one way in: how Discord speaks to the asker before a job exists.

The adapter reads `/heavy`, a message (mention, DM, a reply in its own thread) or a follow-up
button into a `Question`; `heavy_engine.delivery.ask` does the checks and the submit; these
`Asking`s say the help, the usage, the refusals, and make the thread or the "thinking" reply.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord

from heavy_engine.delivery import Asking, Question
from heavy_engine.jobs import Job

from ._render import CONTENT_LIMIT, NO_MENTIONS, USAGE_HINT, thread_name
from ._reply import DiscordReply

log = logging.getLogger("heavy.discord")

# Discord's refusal of a second thread on one message: another session took this message.
THREAD_ALREADY_CREATED = 160004


class SlashAsking(Asking):
    """`/heavy`: help, usage and early refusals are ephemeral responses; once deferred, the
    public "thinking" message is the card, and a refusal replaces it with a private note."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.card: int | None = None

    async def help(self, text: str) -> None:
        await self.interaction.response.send_message(
            text[:CONTENT_LIMIT], ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def usage(self) -> None:
        await self.acknowledge()
        await self.interaction.edit_original_response(content=USAGE_HINT,
                                                      allowed_mentions=NO_MENTIONS)

    async def acknowledge(self) -> None:
        # Discord gives 3 s, and resolving settings may touch the database.
        callback = await self.interaction.response.defer(thinking=True)
        self.card = callback.message_id if callback is not None else None

    async def refuse(self, sentence: str) -> None:
        interaction = self.interaction
        with contextlib.suppress(discord.HTTPException):
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    f"⚠️ {sentence}", ephemeral=True, allowed_mentions=NO_MENTIONS)
                return
            # Only the asker sees why: the public "thinking" message goes away.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await interaction.followup.send(f"⚠️ {sentence}", ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)

    async def prepare(self, question: Question) -> Question | None:
        interaction = self.interaction
        card = self.card if self.card is not None else (await interaction.original_response()).id
        # The deferred response becomes the card. Edits go through the interaction's webhook
        # while its token lives (any process can, from these), then with the bot token.
        reply = replace(DiscordReply.of(question), response=str(card),
                        application_id=str(interaction.application_id),
                        interaction_token=interaction.token, interaction_at=time.time())
        return replace(question, reply=reply)


class MessageAsking(Asking):
    """A message: answered in its thread, its DM, or a thread started from it in a channel."""

    def __init__(self, message: discord.Message,
                 send: Callable[[int, str], Awaitable[Any]]) -> None:
        self.message = message
        self.send = send  # (channel id, text): a message in the channel the answer goes to
        self.answer_in: int | None = None  # set once the reply target is known

    async def help(self, text: str) -> None:
        await self._reply(text[:CONTENT_LIMIT])

    async def usage(self) -> None:
        await self._reply(USAGE_HINT)

    async def refuse(self, sentence: str) -> None:
        with contextlib.suppress(discord.HTTPException):
            if self.answer_in is None:  # before any thread: one short reply, no run
                await self._reply(f"⚠️ {sentence}")
            else:
                await self.send(self.answer_in, f"⚠️ {sentence}")

    async def _reply(self, text: str) -> None:
        await self.message.reply(text, allowed_mentions=NO_MENTIONS, mention_author=False)

    async def prepare(self, question: Question) -> Question | None:
        message = self.message
        channel = message.channel
        reply = DiscordReply.of(question)
        thread = question.thread
        if isinstance(channel, discord.Thread) or message.guild is None:
            # its thread or its DM: answer right there
            reply = replace(reply, reference=str(message.id))
        else:  # a channel: start a thread from the question and work there
            try:
                created = await message.create_thread(name=thread_name(question.text),
                                                      auto_archive_duration=1440)
                thread = str(created.id)
                reply = replace(reply, channel=thread)
            except discord.HTTPException as err:
                if err.code == THREAD_ALREADY_CREATED:
                    log.info("message %s is being answered by another session", message.id)
                    return None
                log.info("no thread for message %s (%s); answering in the channel",
                         message.id, err)
                reply = replace(reply, reference=str(message.id))
        self.answer_in = int(reply.channel)
        return replace(question, reply=reply, thread=thread)


class ButtonAsking(Asking):
    """Regenerate / Go deeper: the press is deferred privately; notes go to the presser."""

    def __init__(self, interaction: discord.Interaction, word: str) -> None:
        self.interaction = interaction
        self.word = word

    async def refuse(self, sentence: str) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.interaction.followup.send(f"⚠️ {sentence}", ephemeral=True,
                                                 allowed_mentions=NO_MENTIONS)

    async def asked(self, job: Job) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.interaction.followup.send(
                f"{self.word}: the new answer comes below.", ephemeral=True,
                allowed_mentions=NO_MENTIONS)
