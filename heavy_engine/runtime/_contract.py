"""What front ends (Slack, Discord, the HTTP API) hand to the job runner, and what it hands back.

A front end builds a `JobSpec` and calls `runner.submit(spec)`. The runner resolves the settings,
records the job, and when capacity allows starts an engine run and calls the front end's
`Delivery.deliver(job, run)`, which renders the run's events on its platform. `job.reply` is the
front end's own small state (message ids, "answer posted"...); `runner.save_reply(job)` persists
it, so a job picked up again after a restart edits the same messages instead of posting twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._config import HeavyConfig
from .._engine import Engine, Run

if TYPE_CHECKING:
    from ..settings import SettingsStore

JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]


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
    reply: dict[str, Any] = field(default_factory=dict)  # where and how to answer: adapter-owned
    dedup_key: str | None = None  # e.g. a Slack event_id: submitting it twice yields no 2nd job


@dataclass(slots=True)
class Job:
    id: str
    spec: JobSpec
    config: HeavyConfig  # the resolved settings snapshot the job runs with
    status: JobStatus = "queued"
    position: int = 0  # place in the queue when queued (1 = next)
    error: str | None = None

    @property
    def reply(self) -> dict[str, Any]:
        return self.spec.reply


class Delivery(Protocol):
    """Implemented by each front end; registered with the runner under its platform name."""

    async def deliver(self, job: Job, run: Run) -> None:
        """Render `run.stream()` until `Done`: progress, then the answer or the failure."""
        ...


class JobRunner(Protocol):
    def register_delivery(self, platform: str, delivery: Delivery) -> None: ...

    async def submit(self, spec: JobSpec) -> Job | None:
        """Record and schedule; None for a duplicate `dedup_key`. Raises `RequestRejected`
        (with a sentence for the user) for bad input or when a limit refuses the job."""
        ...

    async def cancel(self, job_id: str) -> bool: ...

    def get_run(self, job_id: str) -> Run | None: ...

    async def save_reply(self, job: Job) -> None: ...


ConfigResolver = Callable[[JobSpec], Awaitable[HeavyConfig]]


@dataclass(slots=True)
class Services:
    """What `heavy serve` hands to each chat adapter's factory."""

    config: HeavyConfig  # operator defaults (config.yaml + environment)
    engine: Engine
    runner: JobRunner
    settings: SettingsStore
    env: Mapping[str, str]


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

    async def stop(self) -> None: ...


AdapterFactory = Callable[[Services], "Adapter | None"]
