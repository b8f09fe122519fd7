"""`Ledger`: what a delivery has already done for a job, kept in the job row.

One set of keys for every platform, so restart- and crash-safe posting is written once:

- `card`: the id of the progress card (or of the queued note that becomes it)
- `answer`: the id of a live answer message the first answer part replaces (optional)
- `parts`: how many answer parts went out
- `answered`: the job is over on the platform (a delivery run again does nothing)

Everything else in `job.reply` is the adapter's addressing (channel, thread, tokens...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..jobs import Job

CARD, ANSWER, PARTS, ANSWERED = "card", "answer", "parts", "answered"
Save = Callable[[Job], Awaitable[None]]


class Ledger:
    def __init__(self, job: Job, save: Save) -> None:
        self.job = job
        self._save = save

    @property
    def card(self) -> str | None:
        value = self.job.reply.get(CARD)
        return str(value) if value else None

    @property
    def answer(self) -> str | None:
        value = self.job.reply.get(ANSWER)
        return str(value) if value else None

    @property
    def parts(self) -> int:
        return int(self.job.reply.get(PARTS, 0))

    @property
    def answered(self) -> bool:
        return bool(self.job.reply.get(ANSWERED))

    async def record(self, **values: Any) -> None:
        """Write `values` into the job's reply state and persist it at once."""
        self.job.reply.update(values)
        await self._save(self.job)
