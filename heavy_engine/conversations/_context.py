"""Earlier messages as a bounded block of context: pure functions over neutral records.

Figures: at most 20 messages and 6,000 characters in all (header included), each message cut
to 1,500 characters, newest kept first. Messages are ordered by their platform timestamp (Slack
`ts` such as "1700000000.000100", Discord snowflake ids): both compare exactly as decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_MESSAGES = 20
MAX_CHARS = 6_000
MAX_MESSAGE_CHARS = 1_500
DM_HEADER = "Earlier messages in this conversation (oldest first):"
CHAIN_HEADER = "The messages this question replies to (oldest first):"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation, whatever the platform."""

    text: str
    ts: str  # Slack `ts` or Discord message id: orders messages
    is_bot: bool = False  # written by heavy (its answers)
    author: str = ""  # a display name, when the adapter knows one (reply chains)


def _order(ts: str) -> tuple[int, Decimal | str]:
    try:
        return 0, Decimal(ts)
    except InvalidOperation:
        return 1, ts  # unknown formats sort after, in text order


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _line(message: ChatMessage, limit: int) -> str:
    who = "heavy" if message.is_bot else (message.author.strip() or "User")
    return f"{who}: {_shorten(' '.join(message.text.split()), limit)}"


def conversation_context(
    messages: Iterable[ChatMessage],
    header: str,
    *,
    before: str | None = None,
    max_messages: int = MAX_MESSAGES,
    max_chars: int = MAX_CHARS,
    max_message_chars: int = MAX_MESSAGE_CHARS,
) -> str | None:
    """The newest messages (older than `before`, when given) that fit, oldest first, under
    `header`; None when there are none. The result is at most `max_chars` long."""
    cutoff = _order(before) if before is not None else None
    usable = sorted((m for m in messages if m.text.strip()
                     and (cutoff is None or _order(m.ts) < cutoff)), key=lambda m: _order(m.ts))
    lines: list[str] = []
    room = max_chars - len(header)
    for message in reversed(usable[-max_messages:] if max_messages > 0 else []):
        line = _line(message, max_message_chars)
        if len(line) + 1 > room:
            if not lines and room > 20:  # the newest alone is too long: keep its start
                lines.append(_shorten(line, room - 1))
            break
        lines.append(line)
        room -= len(line) + 1
    if not lines:
        return None
    return "\n".join([header, *reversed(lines)])


def dm_context(messages: Iterable[ChatMessage], *, before: str | None = None) -> str | None:
    """A DM's earlier messages (last 20 / 6,000 characters) as context for the next question."""
    return conversation_context(messages, DM_HEADER, before=before)


def reply_chain_context(chain: Iterable[ChatMessage]) -> str | None:
    """The replied-to chain (any order) as context, bounded like a DM's."""
    return conversation_context(chain, CHAIN_HEADER)
