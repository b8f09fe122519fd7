"""What differs between running jobs in one process and across replicas: the backend.

`Runner` (the `JobRunner` every caller uses) does what both share: intake (refused once it
stops), the first steps of a submission, following a job, the deliveries. Running an admitted
job is `Lifecycle.run`, the same for both. A backend does the rest: admission and queueing,
cancelling, counts, starting and stopping, where a job's events are kept for followers, and
(as the `Steps` of each job) where its course is recorded.

- `LocalBackend` (`_local.py`, SQLite): one process; the queue is in memory, backed by the
  `jobs` table; followers read the live run.
- `PostgresBackend` (`_distributed.py`, PostgreSQL): any number of replicas; procrastinate's
  queue, admission under the running limits in the database, events in `job_events` with
  LISTEN/NOTIFY, heartbeats and a sweep for the jobs of dead workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal, Protocol

from ._contract import FollowItem, Job, JobRejected

Admission = JobRejected | Literal[False] | None
"""The outcome of `Backend.admit`: None when accepted (`job.position` set), the refusal (the
job is recorded as refused), or False for a duplicate (another submission of the same event
was recorded first)."""


class Backend(Protocol):
    async def admit(self, job: Job, refusal: JobRejected | None) -> Admission:
        """Record the new `job` and queue it, unless `refusal` (access, budget) or the queue
        limits refuse it: then it is recorded as refused."""
        ...

    async def cancel(self, job_id: str, *, by: str | None) -> bool: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    def counts(self) -> tuple[int, int]: ...

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set at the next change of `job_id` (status or events); take it before
        reading the job."""
        ...

    def events(self, job: Job, after: int) -> AsyncIterator[FollowItem]:
        """The job's events numbered after `after` that are there to read now (the local
        backend streams a live run to its end)."""
        ...

    @property
    def recheck_s(self) -> float | None:
        """How long a follower waits for `watch` before it reads the job again anyway."""
        ...

    async def start(self) -> int: ...

    async def shutdown(self, grace: float, force: asyncio.Event | None) -> None:
        """Let running jobs finish for up to `grace` seconds (or until `force` is set), then
        interrupt the rest (the runner has stopped intake)."""
        ...

    async def drain(self) -> None: ...
