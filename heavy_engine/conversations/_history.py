"""heavy's own record of a conversation: earlier questions and answers from the jobs table.

Adapters use it where reading the platform's history is costly or rate limited (Slack's
`conversations.history` / `replies`: 1 request a minute for non-Marketplace apps): a Slack DM
keeps its last exchanges without a single API call. Read only; the runner writes the rows.
"""

from __future__ import annotations

from ..db import Database
from ..jobs import answered
from ._context import ChatMessage

MAX_EXCHANGES = 10  # question + answer pairs: 20 messages, the context's bound


async def recent_exchanges(
    db: Database, platform: str, workspace: str, channel: str, *,
    thread: str | None = None, limit: int = MAX_EXCHANGES,
) -> list[ChatMessage]:
    """The last `limit` answered questions in a channel (or one thread of it), oldest first,
    each as the user's question then heavy's answer."""
    out: list[ChatMessage] = []
    for past in await answered(db, platform, workspace, channel, thread=thread, limit=limit):
        asked = past.asked_at.timestamp()
        done = past.answered_at.timestamp() if past.answered_at else asked
        out.append(ChatMessage(past.question, f"{asked:.6f}"))
        out.append(ChatMessage(past.answer, f"{max(done, asked + 1e-6):.6f}", is_bot=True))
    return out
