"""Answer messages in a thread: the plan (the engine's, at Slack's limits), and sending one
chunk with `msg_too_long` and uneditable messages handled."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.delivery import AnswerLimits
from heavy_engine.delivery import plan_answer as plan_parts
from heavy_engine.text import split_markdown

from ._cards import SECTION_LIMIT, answer_message
from ._mrkdwn import markdown_to_mrkdwn
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

CHUNK_LIMIT = SECTION_LIMIT  # one chunk fills one section block
MAX_MESSAGES = 4  # more than this reads as spam: attach the full answer instead
SUMMARY_CHARS = 1500
LIMITS = AnswerLimits(part_chars=CHUNK_LIMIT, max_parts=MAX_MESSAGES, head_chars=SUMMARY_CHARS)
_UNEDITABLE = frozenset({"cant_update_message", "message_not_found", "edit_window_closed",
                         "message_not_in_streaming_state", "is_streaming"})
_MIN_CHUNK = 400  # below this, msg_too_long is not about length: give up


@dataclass(slots=True)
class AnswerPlan:
    """What to post: mrkdwn chunks, and the Markdown to attach when the answer is too long."""

    chunks: list[str]
    attachment: str | None = None


def plan_answer(markdown: str, *, filename: str = "answer.md") -> AnswerPlan:
    """Pure: the chunks to post for `markdown` (the summary names `filename` when attached)."""
    plan = plan_parts(markdown_to_mrkdwn(markdown), LIMITS, empty="_(empty answer)_")
    if not plan.cut:
        return AnswerPlan(plan.parts)
    note = (f"\n\n_The full answer ({len(markdown):,} characters) is attached as "
            f"`{filename}`._")
    return AnswerPlan([plan.parts[0] + note], attachment=markdown)


async def send_chunk(client: AsyncWebClient, channel: str, thread_ts: str, chunk: str,
                     footer: str | None, replace_ts: str | None,
                     limit: int = CHUNK_LIMIT,
                     actions: dict[str, Any] | None = None) -> list[str]:
    """Post one chunk (or replace `replace_ts` with it); the ts of what it became."""
    text, blocks = answer_message(chunk, footer, actions)
    try:
        if replace_ts is not None:
            await client.chat_update(channel=channel, ts=replace_ts, text=text, blocks=blocks)
            return [replace_ts]
        resp = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                             blocks=blocks)
        return [str(resp["ts"])]
    except SlackApiError as err:
        if replace_ts is not None and api_error(err) in _UNEDITABLE:
            # The message cannot be edited (deleted, a stream Slack still holds...): the
            # answer matters more than where it lands.
            log.info("chat.update failed (%s); posting the answer anew", api_error(err))
            return await send_chunk(client, channel, thread_ts, chunk, footer, None, limit,
                                    actions)
        if api_error(err) != "msg_too_long" or limit // 2 < _MIN_CHUNK:
            raise
    # Slack measures differently from us (entities, emoji): halve and try again.
    log.info("msg_too_long at %d characters; splitting further", len(chunk))
    pieces = split_markdown(chunk, limit // 2)
    out: list[str] = []
    for j, piece in enumerate(pieces):
        out += await send_chunk(client, channel, thread_ts, piece,
                                footer if j == len(pieces) - 1 else None,
                                replace_ts if j == 0 else None, limit // 2,
                                actions if j == len(pieces) - 1 else None)
    return out


async def attach(client: AsyncWebClient, channel: str, thread_ts: str, markdown: str,
                 filename: str) -> None:
    await client.files_upload_v2(channel=channel, thread_ts=thread_ts, filename=filename,
                                 title="Full answer", content=markdown)
