"""Conversation context: earlier messages of a DM or a reply chain as bounded text.

Adapters turn platform messages into `ChatMessage` records and pass the result of
`dm_context` / `reply_chain_context` as the job's `context`. Figures: the last 20 messages and
6,000 characters (each message at most 1,500). `recent_exchanges` reads heavy's own questions
and answers of a channel or thread from the jobs table, for platforms whose history API is
rate limited. `follow_up` turns a press of "Regenerate" or "Go deeper" into the next job, checked
against the stored one.
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
from ._followup import ACTIONS, Action, follow_up
from ._history import MAX_EXCHANGES, recent_exchanges

__all__ = [
    "ACTIONS",
    "CHAIN_HEADER",
    "DM_HEADER",
    "MAX_CHARS",
    "MAX_EXCHANGES",
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "Action",
    "ChatMessage",
    "conversation_context",
    "dm_context",
    "follow_up",
    "recent_exchanges",
    "reply_chain_context",
]
