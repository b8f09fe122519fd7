"""What front ends (Slack, Discord, the HTTP API) hand to the job runner, and what it hands back.

A front end builds a `JobSpec` and calls `runner.submit(spec)`. The runner resolves the settings,
records the job, and when capacity allows starts an engine run and calls the front end's
`Delivery.deliver(job, run)`, which renders the run's events on its platform (chat platforms
through `heavy_engine.delivery.ReplyPipeline`). A job is data: everything a delivery needs is
in its record, so any process can deliver it. `job.reply` holds where to answer (ids, tokens
for follow-ups) and the reply ledger (see `heavy_engine.delivery.Ledger`);
`runner.save_reply(job)` persists it, so a job picked up again after a restart edits the same
messages instead of posting twice. Who stopped a job is `job.stopped_by`, written by
`runner.cancel(job_id, by=user)`.

Rules every runner keeps (on either backend), which front ends can rely on:
- `submit` returns the job with `position` set: 0 when it started at once, else its place in
  the queue (say so to the requester). A limit that refuses the job raises `JobRejected`.
- After a restart, `deliver` can be called again for a job it already saw. If the run had
  finished, the `Run` it gets is a replay of the stored result (no model is called again), so
  a delivery that recorded "answer posted" in `job.reply` must not post it a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..core import Engine, HeavyConfig, RequestRejected, Run, RunResult
from ..observability import Metrics

if TYPE_CHECKING:
    from ..settings import SettingsStore
    from ._store import JobStore

JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]

# How a finished run's status reads as a job's (a timed-out run is a failed job).
JOB_STATUS: dict[str, JobStatus] = {
    "ok": "done", "cancelled": "cancelled", "failed": "failed", "timeout": "failed"}
FINAL_STATUSES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
RejectReason = Literal["busy", "user_queue", "budget", "shutting_down", "not_allowed"]
CANCELLED = "The request was cancelled."  # a cancelled job's error, whoever stopped it


class JobRejected(RequestRejected):
    """A limit refused the job; `str(err)` is the sentence for the requester."""

    def __init__(self, message: str, reason: RejectReason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class JobSpec:
    platform: str  # "slack" | "discord" | "api" | "cli"
    workspace: str  # Slack team id / Discord guild id ("" for DMs and the API)
    channel: str
    user: str
    question: str
    thread: str | None = None
    context: str | None = None  # earlier conversation, formatted as text
    flags: dict[str, Any] = field(default_factory=dict)  # per-request overrides (agents, model)
    # Where and how to answer (adapter-owned), plus the reply ledger (`delivery.Ledger`).
    reply: dict[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None  # e.g. a Slack event_id: submitting it twice yields no 2nd job
    # (the only event de-duplication there is: `runner.seen()` asks before any work)
    roles: list[str] = field(default_factory=list)  # the asker's role ids (Discord allow_roles)
    attachments: dict[str, Any] | None = None  # `attachments.Attachments.as_dict()`


@dataclass(slots=True)
class Job:
    id: str
    spec: JobSpec
    config: HeavyConfig  # the resolved settings snapshot the job runs with
    status: JobStatus = "queued"
    position: int = 0  # place in the queue when queued (1 = next); 0 once started
    error: str | None = None
    stopped_by: str | None = None  # who cancelled it (`runner.cancel(job_id, by=...)`)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0  # runs started, counting those a restart interrupted
    result: RunResult | None = None

    @property
    def reply(self) -> dict[str, Any]:
        return self.spec.reply


class Delivery(Protocol):
    """Implemented by each front end; registered with the runner under its platform name."""

    async def deliver(self, job: Job, run: Run) -> None:
        """Render `run.stream()` until `Done`: progress, then the answer or the failure."""
        ...


FollowItem = tuple[int | None, str, dict[str, Any]]
"""What `JobRunner.follow` yields: (the event's number, or None for a `status` item, its type,
its data)."""


class JobRunner(Protocol):
    """Everything front ends and the service use of a runner (`jobs.Runner` implements it, on
    the local or the distributed backend): no caller needs to know which one runs."""

    @property
    def store(self) -> JobStore:
        """The jobs table (the API reads a job back by its idempotency key)."""
        ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def engine(self) -> Engine:
        """The engine the runner starts runs on (`/healthz` reports its MCP servers)."""
        ...

    def register_delivery(self, platform: str, delivery: Delivery) -> None: ...

    async def submit(self, spec: JobSpec) -> Job | None:
        """Record and schedule; None for a duplicate `dedup_key`. Raises `RequestRejected`
        (with a sentence for the user) for bad input or when a limit refuses the job."""
        ...

    async def seen(self, platform: str, dedup_key: str) -> bool:
        """True when a job was already submitted with this key (a retried event)."""
        ...

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Cancel a queued or running job, recording `by` as `job.stopped_by`; False when it
        is unknown or already over."""
        ...

    def get_run(self, job_id: str) -> Run | None:
        """The live run of a job running in this process, if any."""
        ...

    async def get_job(self, job_id: str) -> Job | None:
        """The job as it is now (a queued one with its `position`), or None when unknown."""
        ...

    def follow(self, job_id: str, after: int = 0) -> AsyncIterator[FollowItem]:
        """The job's events numbered after `after` (SSE `Last-Event-ID`), then live ones, and a
        `status` item (number None) whenever its status changes; the final status last."""
        ...

    async def save_reply(self, job: Job) -> None: ...

    async def stored(self, job: Job) -> None:
        """Return once the running `job`'s result is stored (at once when an earlier attempt
        stored it): the reply pipeline posts no answer before, so a retry replays it."""
        ...

    async def answered_in(self, platform: str, workspace: str, channel: str, thread: str) -> bool:
        """True when a job was asked in that thread before (durably, across restarts), so a
        front end's "follow the threads I answered in" policy survives a restart."""
        ...

    @property
    def accepting(self) -> bool:
        """False once intake stopped (a graceful stop): `/healthz` then reports not ready."""
        ...

    def counts(self) -> tuple[int, int]:
        """(queued, running): this process's on SQLite, every replica's on PostgreSQL."""
        ...

    async def start(self) -> int:
        """Take back what a previous process left unfinished and start running jobs; returns
        how many jobs were picked up again (0 when the queue does that by itself)."""
        ...

    def stop_intake(self) -> None:
        """Refuse new jobs from now on (the first step of a graceful stop)."""
        ...

    async def shutdown(self, grace: float, force: asyncio.Event | None = None) -> None:
        """Stop intake; running jobs get `grace` seconds (or until `force` is set), then are
        interrupted and run again later (next start, or another worker)."""
        ...

    async def drain(self) -> None:
        """Until nothing is queued or running (tests and benchmarks)."""
        ...


ConfigResolver = Callable[[JobSpec], Awaitable[HeavyConfig]]


@dataclass(slots=True)
class Services:
    """What `heavy serve` hands to each chat adapter's factory."""

    config: HeavyConfig  # operator defaults (config.yaml + environment)
    engine: Engine
    runner: JobRunner
    settings: SettingsStore
    env: Mapping[str, str]
    metrics: Metrics = field(default_factory=Metrics)  # the service's (`/metrics`)


class Adapter(Protocol):
    """A chat front end. Factories are published under the `heavy.adapters` entry-point group
    as `create_adapter(services) -> Adapter | None` (None when its credentials are not set)."""

    name: str

    def routes(self) -> list[Any]:
        """aiohttp route definitions to mount on the service's HTTP server (may be empty)."""
        ...

    async def start(self) -> None:
        """Connect (Socket Mode, Discord gateway...) and register deliveries; return promptly."""
        ...

    async def start_deliveries(self) -> None:
        """Register deliveries and make them able to send (log in), taking no events: what a
        `--role worker` process calls instead of `start`. Its jobs arrive from the queue."""
        ...

    async def stop(self) -> None: ...


AdapterFactory = Callable[[Services], "Adapter | None"]
