"""heavy's `Tag` on Slack messages: message metadata, and finding tagged messages in a thread.

Slack has no idempotency key, so every message a delivery posts carries its tag as metadata
(`event_type` "heavy_reply", `event_payload` the tag); a resumed job reads its thread with
`include_all_metadata` to adopt what a killed attempt posted but never recorded.

A streamed answer is the exception: `chat.startStream` takes no metadata (`chat.stopStream`
does, so a finished stream is tagged). A worker killed between Slack starting the stream and the
ledger recording it leaves a message no tag names; the retry adopts it as the job's live answer
when it is the one untagged message of this bot in the thread after the question, and posts
anew (a duplicate at worst, as before) when two or more could be it.

A file takes no metadata either: the full answer a job attaches is named for the job
(`attachment_name`), and a file of that name in the thread was attached already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.delivery import Tag

EVENT_TYPE = "heavy_reply"
CLOCK_SKEW_S = 60.0  # Slack's clock against ours: read a little before the job was created
_PAGE = 200


@dataclass
class Posted:
    """What a thread holds of one job: its tagged messages, and whether its full answer is
    attached there."""

    tags: dict[Tag, str] = field(default_factory=dict)  # tag -> ts
    attached: bool = False


def attachment_name(job: str) -> str:
    """The name of the file that holds `job`'s full answer: one per job, in every attempt."""
    return f"heavy-{job}.md"


def metadata(tag: Tag) -> dict[str, Any]:
    """`chat.postMessage`'s `metadata` for `tag`."""
    return {"event_type": EVENT_TYPE, "event_payload": tag.payload()}


def tag_of(message: dict[str, Any]) -> Tag | None:
    """The tag a message carries, if heavy tagged it."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") != EVENT_TYPE or not isinstance(meta.get("event_payload"), dict):
        return None
    return Tag.of(meta["event_payload"])


async def tagged(client: AsyncWebClient, channel: str, thread_ts: str, job: str,
                 since: datetime | None, *, stream_after: str | None = None,
                 bot_id: str | None = None) -> Posted:
    """The ts of each message tagged for `job` in the thread, posted after `since`, and the
    job's attachment if there; with `stream_after` (the question's ts) and `bot_id`, an
    untagged stream of this bot after the question as the job's live answer, when it is the
    only candidate."""
    oldest = f"{since.timestamp() - CLOCK_SKEW_S:.6f}" if since is not None else None
    posted = Posted()
    found = posted.tags
    untagged: list[str] = []
    cursor: str | None = None
    while True:
        resp = await client.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=_PAGE,
            oldest=oldest, cursor=cursor)
        for message in resp.get("messages") or []:
            tag = tag_of(message)
            if tag is not None and tag.job == job:
                found.setdefault(tag, str(message["ts"]))  # a split part: its first message
            elif message.get("files"):
                posted.attached |= any(f.get("name") == attachment_name(job)
                                       for f in message["files"])
            elif tag is None and _maybe_stream(message, bot_id, stream_after):
                untagged.append(str(message["ts"]))
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            break
    if stream_after is not None and Tag.answer(job) not in found and len(untagged) == 1:
        found[Tag.answer(job)] = untagged[0]
    return posted


def _maybe_stream(message: dict[str, Any], bot_id: str | None, after: str | None) -> bool:
    """Could this untagged message (not a file) be a stream a killed attempt started: this
    bot's, after the question (so not the thread's first message)?"""
    if bot_id is None or after is None or message.get("bot_id") != bot_id:
        return False
    try:
        return float(message["ts"]) > float(after)
    except (KeyError, TypeError, ValueError):
        return False
