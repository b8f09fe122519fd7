"""Conversation context: earlier messages of a DM or a reply chain as bounded text.

Adapters turn platform messages into `ChatMessage` records and pass the result of
`dm_context` / `reply_chain_context` as the job's `context`. Figures: the last 20 messages and
6,000 characters (each message at most 1,500). `recent_exchanges` reads heavy's own questions
and answers of a channel or thread from the jobs table, for platforms whose history API is
rate limited.
"""

from __future__ import annotations

from ._context import (
    CHAIN_HEADER,
    DM_HEADER,
    MAX_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    ChatMessage,
    conversation_context,
    dm_context,
    reply_chain_context,
)
from ._history import MAX_EXCHANGES, recent_exchanges

__all__ = [
    "CHAIN_HEADER",
    "DM_HEADER",
    "MAX_CHARS",
    "MAX_EXCHANGES",
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "ChatMessage",
    "conversation_context",
    "dm_context",
    "recent_exchanges",
    "reply_chain_context",
]
