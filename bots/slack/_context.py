"""A thread's earlier messages as context for a question asked inside it: bounded and cached.

`conversations.replies` can be limited to one call a minute for non-Marketplace apps, so each
thread's messages are cached and only what is newer than the last seen message is fetched.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.text import transcript

from ._incoming import slack_to_plain
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

MAX_MESSAGES = 20
MAX_CHARS = 6000
PER_MESSAGE_CHARS = 1500
_PAGE = 200


def format_thread(
    messages: Sequence[Mapping[str, Any]],
    *,
    bot_user_id: str,
    before_ts: str,
    max_messages: int = MAX_MESSAGES,
    max_chars: int = MAX_CHARS,
    per_message_chars: int = PER_MESSAGE_CHARS,
) -> str | None:
    """Messages older than `before_ts` as bounded text for the model (see `transcript`)."""
    turns = [
        ("heavy (you)" if _is_self(m, bot_user_id) else f"user {m.get('user', '?')}",
         slack_to_plain(m.get("text") or "", bot_user_id))
        for m in messages if float(m.get("ts", 0)) < float(before_ts)
    ]
    return transcript(turns, source="Slack thread", max_messages=max_messages,
                      max_chars=max_chars, per_message_chars=per_message_chars)


def _is_self(message: Mapping[str, Any], bot_user_id: str) -> bool:
    return message.get("user") == bot_user_id or bool(message.get("bot_id"))


class ThreadHistory:
    """Per-thread message cache in front of `conversations.replies`."""

    def __init__(self, client: AsyncWebClient, *, cache_size: int = 256) -> None:
        self._client = client
        self._cache: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
        self._size = cache_size

    async def messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        key = (channel, thread_ts)
        known = self._cache.get(key, [])
        oldest = known[-1]["ts"] if known else None
        try:
            resp = await self._client.conversations_replies(
                channel=channel, ts=thread_ts, limit=_PAGE, **({"oldest": oldest} if oldest else {}))
        except SlackApiError as err:
            # Context is a bonus: answer without it rather than not at all.
            log.warning("conversations.replies failed: %s", api_error(err))
            return known
        seen = {m["ts"] for m in known}
        merged = known + [dict(m) for m in resp.get("messages") or [] if m.get("ts") not in seen]
        merged.sort(key=lambda m: float(m["ts"]))
        self._cache[key] = merged
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return merged

    async def context(self, channel: str, thread_ts: str, *, before_ts: str,
                      bot_user_id: str) -> str | None:
        return format_thread(await self.messages(channel, thread_ts),
                             bot_user_id=bot_user_id, before_ts=before_ts)
