"""Earlier messages as context for a question on Discord: a thread, a DM, a reply chain.

Read only once the asker may ask (`heavy_engine.delivery.ask` calls these lazily), and bounded:
a thread's last messages, a DM's last exchanges (`dm_context`), a reply chain up to heavy's
answer (`reply_chain_context`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from heavy_engine.conversations import ChatMessage, dm_context, reply_chain_context
from heavy_engine.text import transcript

from ._render import strip_bot_mention

log = logging.getLogger("heavy.discord")

HISTORY_LIMIT = 25
DM_HISTORY_LIMIT = 40  # messages read from a DM; `dm_context` keeps the last 20 / 6,000 chars
CHAIN_LIMIT = 10  # replied-to messages followed up a reply chain


class DiscordHistory:
    """Reads context with the bot's client; `me()` is the bot's user id once logged in."""

    def __init__(self, client: discord.Client, me: Callable[[], int]) -> None:
        self.client = client
        self.me = me

    async def dm(self, message: discord.Message) -> str | None:
        """The DM's earlier messages (heavy's answers included), bounded by `dm_context`."""
        me = self.me()
        try:
            earlier = [m async for m in message.channel.history(limit=DM_HISTORY_LIMIT,
                                                                 before=message)]
        except discord.HTTPException as err:
            log.info("could not read DM %s for context: %s", message.channel.id, err)
            return None
        return dm_context([_chat(m, me) for m in earlier], before=str(message.id))

    async def chain(self, message: discord.Message) -> str | None:
        """When `message` replies to one of heavy's answers: that reply chain, else None."""
        me = self.me()
        chain: list[discord.Message] = []
        ref = message.reference
        try:
            while ref is not None and ref.message_id is not None and len(chain) < CHAIN_LIMIT:
                found = ref.resolved if isinstance(ref.resolved, discord.Message) else None
                if found is None:
                    channel = self.client.get_partial_messageable(ref.channel_id)
                    found = await channel.fetch_message(ref.message_id)
                chain.append(found)
                ref = found.reference
        except discord.HTTPException as err:
            log.info("could not follow the reply chain of %s: %s", message.id, err)
        if not chain or chain[0].author.id != me:
            return None  # not a reply to heavy: the replied-to message is not ours to read
        return reply_chain_context([_chat(m, me) for m in chain])

    async def thread(
        self, thread: discord.Thread, before: discord.Message | None
    ) -> str | None:
        me = self.me()
        turns: list[tuple[str, str]] = []
        try:
            history = [m async for m in thread.history(limit=HISTORY_LIMIT, before=before)]
            starter = await self._starter(thread)
        except discord.HTTPException as err:
            log.info("could not read thread %s for context: %s", thread.id, err)
            return None
        for m in ([starter] if starter else []) + list(reversed(history)):
            speaker = "heavy" if m.author.id == me else m.author.display_name
            text = m.content or (m.embeds[0].description or "" if m.embeds else "")
            turns.append((speaker, strip_bot_mention(text, me)))
        return transcript(turns, source="Discord thread")

    async def _starter(self, thread: discord.Thread) -> discord.Message | None:
        """The message a thread was started from (same id), when it still exists."""
        try:
            parent = self.client.get_partial_messageable(thread.parent_id)
            return await parent.fetch_message(thread.id)
        except discord.NotFound:
            return None


def _chat(message: discord.Message, me: int) -> ChatMessage:
    """A Discord message as a neutral `ChatMessage`: heavy's footers and mentions left out.
    Only the text counts: heavy's progress cards are embeds with no content, and drop out."""
    lines = [line for line in message.content.splitlines() if not line.startswith("-# ")]
    return ChatMessage(strip_bot_mention("\n".join(lines), me), str(message.id),
                       is_bot=message.author.id == me, author=message.author.display_name)
