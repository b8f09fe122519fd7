"""Answer messages in a thread: the plan (`markdown` and `table` blocks at Slack's limits, see
`_markdown`), and sending one message with `msg_too_long` and uneditable messages handled."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.text import split_markdown

from ._markdown import MARKDOWN_CHARS, MarkdownPlan, Message, markdown_plan
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

_UNEDITABLE = frozenset({"cant_update_message", "message_not_found", "edit_window_closed",
                         "message_not_in_streaming_state", "is_streaming"})
_MIN_CHUNK = 400  # below this, msg_too_long is not about length: give up


def plan_answer(markdown: str, *, filename: str = "answer.md", footer: str | None = None,
                tail: list[dict[str, Any]] | None = None) -> MarkdownPlan:
    """Pure: the messages to post for `markdown` (the summary names `filename` when the
    answer is attached); the last carries `footer`, then `tail` (sources, feedback)."""
    return markdown_plan(markdown, footer=footer, filename=filename, tail=tail)


def _split(message: Message, limit: int) -> list[Message]:
    """`message` as several, each markdown block cut to `limit`; the other blocks (a table,
    the footer) go with the last piece."""
    out: list[Message] = []
    rest: list[dict[str, Any]] = []
    for block in message.blocks:
        if block.get("type") != "markdown":
            rest.append(block)
            continue
        for piece in split_markdown(block["text"], limit):
            out.append(Message(message.text, [{"type": "markdown", "text": piece}]))
    if not out:
        return [message]
    out[-1].blocks.extend(rest)
    return out


async def send_message(client: AsyncWebClient, channel: str, thread_ts: str, message: Message,
                       replace_ts: str | None, limit: int = MARKDOWN_CHARS,
                       metadata: dict[str, Any] | None = None) -> list[str]:
    """Post one message (or replace `replace_ts` with it); the ts of what it became. What is
    posted carries `metadata` (each piece, when Slack makes us split it)."""
    try:
        if replace_ts is not None:
            await client.chat_update(channel=channel, ts=replace_ts, text=message.text,
                                     blocks=message.blocks)
            return [replace_ts]
        resp = await client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                             text=message.text, blocks=message.blocks,
                                             metadata=metadata)
        return [str(resp["ts"])]
    except SlackApiError as err:
        if replace_ts is not None and api_error(err) in _UNEDITABLE:
            # The message cannot be edited (deleted, a stream Slack still holds...): the
            # answer matters more than where it lands.
            log.info("chat.update failed (%s); posting the answer anew", api_error(err))
            return await send_message(client, channel, thread_ts, message, None, limit,
                                      metadata)
        size = sum(len(b["text"]) for b in message.blocks if b.get("type") == "markdown")
        limit = min(limit, size) // 2
        if api_error(err) != "msg_too_long" or limit < _MIN_CHUNK:
            raise
    # Slack measures differently from us (entities, emoji): halve and try again.
    log.info("msg_too_long at %d characters; splitting further", size)
    pieces = _split(message, limit)
    out: list[str] = []
    for j, piece in enumerate(pieces):
        out += await send_message(client, channel, thread_ts, piece,
                                  replace_ts if j == 0 else None, limit, metadata)
    return out


async def attach(client: AsyncWebClient, channel: str, thread_ts: str, markdown: str,
                 filename: str) -> None:
    await client.files_upload_v2(channel=channel, thread_ts=thread_ts, filename=filename,
                                 title="Full answer", content=markdown)
