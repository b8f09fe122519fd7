"""Posting a finished answer: split at Slack's limits, `msg_too_long` handled, very long
answers attached as a file with a summary."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.text import split_markdown

from ._cards import SECTION_LIMIT, answer_message
from ._mrkdwn import markdown_to_mrkdwn
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

CHUNK_LIMIT = SECTION_LIMIT  # one chunk fills one section block
MAX_MESSAGES = 4  # more than this reads as spam: attach the full answer instead
SUMMARY_CHARS = 1500
_UNEDITABLE = frozenset({"cant_update_message", "message_not_found", "edit_window_closed",
                         "message_not_in_streaming_state", "is_streaming"})
_MIN_CHUNK = 400  # below this, msg_too_long is not about length: give up


@dataclass(slots=True)
class AnswerPlan:
    """What to post: mrkdwn chunks, and the Markdown to attach when the answer is too long."""

    chunks: list[str]
    attachment: str | None = None


def plan_answer(markdown: str, *, limit: int = CHUNK_LIMIT, max_messages: int = MAX_MESSAGES,
                filename: str = "answer.md") -> AnswerPlan:
    """Pure: the chunks to post for `markdown` (the summary names `filename` when attached)."""
    chunks = split_markdown(markdown_to_mrkdwn(markdown), limit) or ["_(empty answer)_"]
    if len(chunks) <= max_messages:
        return AnswerPlan(chunks)
    summary = split_markdown(markdown_to_mrkdwn(markdown), SUMMARY_CHARS)[0]
    note = (f"\n\n_The full answer ({len(markdown):,} characters) is attached as "
            f"`{filename}`._")
    return AnswerPlan([summary + note], attachment=markdown)


class AnswerPoster:
    """Sends an `AnswerPlan` into a thread; the first chunk may replace an existing message."""

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    async def post(self, plan: AnswerPlan, *, footer: str | None, replace_ts: str | None,
                   filename: str = "answer.md", done: int = 0,
                   on_sent: Callable[[int], Awaitable[None]] | None = None) -> list[str]:
        """Send the plan's pieces (the attachment first, then each chunk). The first `done`
        pieces went out before a restart and are skipped; `on_sent(n)` records progress."""
        pieces: list[Callable[[], Awaitable[list[str]]]] = []
        if plan.attachment is not None:
            attachment = plan.attachment
            pieces.append(lambda: self._attach_piece(attachment, filename))
        for i, chunk in enumerate(plan.chunks):
            last = i == len(plan.chunks) - 1
            pieces.append(functools.partial(self.send, chunk, footer if last else None,
                                            replace_ts if i == 0 else None))
        posted: list[str] = []
        for n, piece in enumerate(pieces[done:], start=done + 1):
            posted += await piece()
            if on_sent is not None:
                await on_sent(n)
        return posted

    async def _attach_piece(self, markdown: str, filename: str) -> list[str]:
        await self.attach(markdown, filename)
        return []

    async def send(self, chunk: str, footer: str | None, replace_ts: str | None,
                    limit: int = CHUNK_LIMIT) -> list[str]:
        text, blocks = answer_message(chunk, footer)
        try:
            if replace_ts is not None:
                await self.client.chat_update(channel=self.channel, ts=replace_ts,
                                              text=text, blocks=blocks)
                return [replace_ts]
            resp = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=blocks)
            return [str(resp["ts"])]
        except SlackApiError as err:
            if replace_ts is not None and api_error(err) in _UNEDITABLE:
                # The message cannot be edited (deleted, a stream Slack still holds...):
                # the answer matters more than where it lands.
                log.info("chat.update failed (%s); posting the answer anew", api_error(err))
                return await self.send(chunk, footer, None, limit)
            if api_error(err) != "msg_too_long" or limit // 2 < _MIN_CHUNK:
                raise
        # Slack measures differently from us (entities, emoji): halve and try again.
        log.info("msg_too_long at %d characters; splitting further", len(chunk))
        pieces = split_markdown(chunk, limit // 2)
        out: list[str] = []
        for j, piece in enumerate(pieces):
            out += await self.send(piece, footer if j == len(pieces) - 1 else None,
                                    replace_ts if j == 0 else None, limit // 2)
        return out

    async def attach(self, markdown: str, filename: str) -> None:
        await self.client.files_upload_v2(
            channel=self.channel, thread_ts=self.thread_ts, filename=filename,
            title="Full answer", content=markdown)
