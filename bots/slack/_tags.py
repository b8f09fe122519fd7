"""heavy's `Tag` on Slack messages: message metadata, and finding tagged messages in a thread.

Slack has no idempotency key, so every message a delivery posts carries its tag as metadata
(`event_type` "heavy_reply", `event_payload` the tag); a resumed job reads its thread with
`include_all_metadata` to adopt what a killed attempt posted but never recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.delivery import Tag

EVENT_TYPE = "heavy_reply"
CLOCK_SKEW_S = 60.0  # Slack's clock against ours: read a little before the job was created
_PAGE = 200


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
                 since: datetime | None) -> dict[Tag, str]:
    """The ts of each message tagged for `job` in the thread, posted after `since`."""
    oldest = f"{since.timestamp() - CLOCK_SKEW_S:.6f}" if since is not None else None
    found: dict[Tag, str] = {}
    cursor: str | None = None
    while True:
        resp = await client.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=_PAGE,
            oldest=oldest, cursor=cursor)
        for message in resp.get("messages") or []:
            tag = tag_of(message)
            if tag is not None and tag.job == job:
                found.setdefault(tag, str(message["ts"]))  # a split part: its first message
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return found
