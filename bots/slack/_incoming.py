"""Slack event payloads to plain text and trigger decisions. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

Trigger = Literal["mention", "dm", "follow"]

# Subtypes that are still a person writing something new; every other subtype (edits,
# deletions, joins, bot messages...) is ignored.
_ANSWERABLE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(\w+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def slack_to_plain(text: str, bot_user_id: str | None = None) -> str:
    """A message as the model should read it: the bot's own mention removed, other mentions,
    channels and links as readable words, Slack's escapes undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _USER.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(1) if not m.group(2) or m.group(2) == m.group(1)
                     else f"{m.group(2)} ({m.group(1)})", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()


def is_from_bot(event: Mapping[str, Any]) -> bool:
    return bool(event.get("bot_id") or event.get("bot_profile")) or (
        event.get("subtype") == "bot_message"
    )


def is_answerable(event: Mapping[str, Any]) -> bool:
    """A person's new message: not a bot, not an edit, not a deletion or a join."""
    return (
        not is_from_bot(event)
        and event.get("subtype") in _ANSWERABLE_SUBTYPES
        and "edited" not in event
        and bool(event.get("user"))
    )


def mentions(text: str, user_id: str) -> bool:
    return re.search(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", text) is not None


def message_trigger(event: Mapping[str, Any], bot_user_id: str) -> Trigger | None:
    """Which rule (if any) makes a `message` event worth an answer.

    Mentions in channels arrive as `app_mention` too, so a channel message that mentions the bot
    is left to that listener (two event ids for one message would mean two answers).
    """
    if not is_answerable(event):
        return None
    if event.get("channel_type") == "im":
        return "dm"
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        if mentions(event.get("text") or "", bot_user_id):
            return None
        return "follow"
    return None


def thread_root(event: Mapping[str, Any]) -> str:
    """The ts to reply under: the thread the message is in, else the message itself."""
    return str(event.get("thread_ts") or event["ts"])
