"""Read-only views of the job history for front ends: a user's recent questions and what is
left of today's budget (App Home in Slack; anything else that shows "your questions"), and a
conversation's answered questions (`answered`: its memory, read by `conversations`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from ..core import HeavyConfig, Limits
from ..db import Database, JobRow, utcnow
from ._limits import start_of_day
from ._store import JobStore


@dataclass(frozen=True, slots=True)
class PastJob:
    id: str
    question: str
    status: str
    cost_usd: float
    tokens: int
    created_at: datetime
    channel: str
    thread: str | None
    feedback: str | None = None  # "good" / "bad" when the asker rated the answer


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    """Today's remaining budget of a scope; None where no budget is set."""

    scope: str  # "workspace" | "channel"
    tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class Exchange:
    """An answered question: what was asked, the answer, and when each was written."""

    question: str
    answer: str
    asked_at: datetime
    answered_at: datetime | None


async def answered(db: Database, platform: str, workspace: str, channel: str, *,
                   thread: str | None = None, limit: int = 10) -> list[Exchange]:
    """The last `limit` answered questions in a channel (or one thread of it), oldest first."""
    query = select(JobRow.question, JobRow.answer, JobRow.created_at, JobRow.finished_at).where(
        JobRow.platform == platform, JobRow.workspace == workspace, JobRow.channel == channel,
        JobRow.status == "done", JobRow.answer.is_not(None))
    if thread is not None:
        query = query.where(JobRow.thread == thread)
    query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(max(limit, 0))
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [Exchange(q, a or "", created, finished) for q, a, created, finished in reversed(rows)]


class JobHistory:
    def __init__(self, db: Database, config: HeavyConfig) -> None:
        self.db = db
        self._store = JobStore(db, config)

    async def recent(self, platform: str, workspace: str, user: str,
                     limit: int = 10) -> list[PastJob]:
        """The user's latest questions in that workspace, newest first."""
        query = (select(JobRow.id, JobRow.question, JobRow.status, JobRow.cost_usd,
                        JobRow.prompt_tokens + JobRow.completion_tokens, JobRow.created_at,
                        JobRow.channel, JobRow.thread, JobRow.feedback)
                 .where(JobRow.platform == platform, JobRow.workspace == workspace,
                        JobRow.requester == user)
                 .order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit))
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [PastJob(*row) for row in rows]

    async def set_feedback(self, job_id: str, value: str) -> None:
        """Keep the latest rating of a job's answer ("good" or "bad")."""
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(JobRow).where(JobRow.id == job_id).values(feedback=value))

    async def budget_left(self, limits: Limits, platform: str, workspace: str,
                          now: datetime | None = None) -> BudgetLeft:
        """What the workspace may still spend today (budgets reset at 00:00 UTC)."""
        tokens, cost = await self._store.usage_since(start_of_day(now or utcnow()), platform,
                                                     workspace)
        return BudgetLeft(
            "workspace",
            None if limits.daily_tokens_per_workspace is None
            else max(limits.daily_tokens_per_workspace - tokens, 0),
            None if limits.daily_cost_per_workspace is None
            else max(limits.daily_cost_per_workspace - cost, 0.0),
        )
