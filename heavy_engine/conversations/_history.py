"""heavy's own record of a conversation: earlier questions and answers from the jobs table.

Adapters use it where reading the platform's history is costly or rate limited (Slack's
`conversations.history` / `replies`: 1 request a minute for non-Marketplace apps): a Slack DM
keeps its last exchanges without a single API call. Read only; the runner writes the rows.
"""

from __future__ import annotations

from sqlalchemy import select

from ..db import Database
from ..db._job_tables import JobRow
from ._context import ChatMessage

MAX_EXCHANGES = 10  # question + answer pairs: 20 messages, the context's bound


async def recent_exchanges(
    db: Database, platform: str, workspace: str, channel: str, *,
    thread: str | None = None, limit: int = MAX_EXCHANGES,
) -> list[ChatMessage]:
    """The last `limit` answered questions in a channel (or one thread of it), oldest first,
    each as the user's question then heavy's answer."""
    query = select(JobRow.question, JobRow.answer, JobRow.created_at, JobRow.finished_at).where(
        JobRow.platform == platform, JobRow.workspace == workspace, JobRow.channel == channel,
        JobRow.status == "done", JobRow.answer.is_not(None))
    if thread is not None:
        query = query.where(JobRow.thread == thread)
    query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(max(limit, 0))
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    out: list[ChatMessage] = []
    for question, answer, created, finished in reversed(rows):
        asked = created.timestamp()
        answered = max(finished.timestamp() if finished else asked, asked + 1e-6)
        out.append(ChatMessage(question, f"{asked:.6f}"))
        out.append(ChatMessage(answer or "", f"{answered:.6f}", is_bot=True))
    return out
