"""Scheduling rules as pure functions: which queued jobs may start, and which are refused.

Jobs start in submission order, except that one blocked by its user's or channel's limit is
skipped, so one busy user never holds up everyone else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from ..core import Limits
from ._contract import Job, JobRejected, JobSpec

Key = tuple[str, str, str]


def user_key(spec: JobSpec) -> Key:
    return (spec.platform, spec.workspace, spec.user)


def channel_key(spec: JobSpec) -> Key:
    return (spec.platform, spec.workspace, spec.channel)


class RunningJobs(dict[str, Job]):
    """Jobs by id (the running ones, say), with their count per user and per channel kept up
    to date, so `startable` does not count a thousand running jobs again at every submission."""

    def __init__(self) -> None:
        super().__init__()
        self.users: Counter[Key] = Counter()
        self.channels: Counter[Key] = Counter()

    def __setitem__(self, job_id: str, job: Job) -> None:
        old = self.get(job_id)
        if old is not None:
            self._count(old, -1)
        super().__setitem__(job_id, job)
        self._count(job, 1)

    def __delitem__(self, job_id: str) -> None:
        self.pop(job_id)

    def pop(self, job_id: str, *default: Any) -> Any:
        job = super().pop(job_id, *default)
        if isinstance(job, Job) and job_id not in self:
            self._count(job, -1)
        return job

    def fits(self, job: Job, other: RunningJobs, max_concurrent: int) -> bool:
        """True when `job` may start even behind every job in `other` (and those here): the
        quick yes of `startable([*other, job], self, ...)`, whatever `other`'s order."""
        limits, u, c = job.config.limits, user_key(job.spec), channel_key(job.spec)
        return (len(self) + len(other) < max_concurrent
                and self.users[u] + other.users[u] < limits.per_user
                and self.channels[c] + other.channels[c] < limits.per_channel)

    def _count(self, job: Job, n: int) -> None:
        u, c = user_key(job.spec), channel_key(job.spec)
        self.users[u] += n
        self.channels[c] += n
        if self.users[u] <= 0:
            del self.users[u]
        if self.channels[c] <= 0:
            del self.channels[c]


def startable(queue: Sequence[Job], running: Iterable[Job] | RunningJobs,
              max_concurrent: int) -> list[Job]:
    """The queued jobs that may start now, in order, given the jobs already running."""
    if isinstance(running, RunningJobs):
        held_users, held_channels, free = running.users, running.channels, \
            max_concurrent - len(running)
    else:
        jobs = list(running)
        held_users = Counter(user_key(j.spec) for j in jobs)
        held_channels = Counter(channel_key(j.spec) for j in jobs)
        free = max_concurrent - len(jobs)
    users: Counter[Key] = Counter()  # chosen here, beside the running ones
    channels: Counter[Key] = Counter()
    chosen: list[Job] = []
    for job in queue:
        if free <= 0:
            break
        limits, u, c = job.config.limits, user_key(job.spec), channel_key(job.spec)
        if (held_users[u] + users[u] >= limits.per_user
                or held_channels[c] + channels[c] >= limits.per_channel):
            continue
        users[u] += 1
        channels[c] += 1
        free -= 1
        chosen.append(job)
    return chosen


def queue_refusal(job: Job, queue: Sequence[Job], operator: Limits) -> JobRejected | None:
    """Why `job`, which would have to wait, may not join the queue (None: it may)."""
    mine = sum(1 for j in queue if user_key(j.spec) == user_key(job.spec))
    allowed = job.config.limits.max_queued_per_user
    if mine >= allowed:
        if allowed == 0:
            text = "You already have a question running; ask again when it has finished."
        else:
            text = (f"You already have {mine} question{'s' if mine > 1 else ''} waiting (the "
                    f"limit is {allowed}); ask again when one has finished.")
        return JobRejected(text, "user_queue")
    if len(queue) >= operator.max_queued:
        return JobRejected(
            f"heavy is busy: {len(queue)} questions are already waiting. Please try again "
            "in a few minutes.", "busy")
    return None


def budget_refusal(
    limits: Limits, channel: tuple[int, float], workspace: tuple[int, float], user: int = 0
) -> JobRejected | None:
    """Refuse when today's tokens of the asker, or (tokens, cost) of the channel or the
    workspace, reached its budget."""
    if limits.daily_tokens_per_user is not None and user >= limits.daily_tokens_per_user:
        return JobRejected(
            f"You have used your daily budget of {limits.daily_tokens_per_user:,} tokens; it "
            "resets at 00:00 UTC.", "budget")
    checks = [
        ("channel", "tokens", channel[0], limits.daily_tokens_per_channel),
        ("channel", "cost", channel[1], limits.daily_cost_per_channel),
        ("workspace", "tokens", workspace[0], limits.daily_tokens_per_workspace),
        ("workspace", "cost", workspace[1], limits.daily_cost_per_workspace),
    ]
    for scope, kind, used, budget in checks:
        if budget is not None and used >= budget:
            amount = f"{int(budget):,} tokens" if kind == "tokens" else f"${budget:,.2f}"
            return JobRejected(
                f"This {scope} has used its daily budget of {amount}; it resets at "
                "00:00 UTC.", "budget")
    return None


def has_budget(limits: Limits) -> bool:
    return any(v is not None for v in (
        limits.daily_tokens_per_user, limits.daily_tokens_per_channel, limits.daily_cost_per_channel,
        limits.daily_tokens_per_workspace, limits.daily_cost_per_workspace))


def start_of_day(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: when the daily budgets reset."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class _Usage(Protocol):
    async def usage_since(self, since: datetime, platform: str, workspace: str,
                          channel: str | None = None) -> tuple[int, float]: ...

    async def user_tokens_since(self, since: datetime, platform: str, user: str) -> int: ...


async def over_budget(store: _Usage, job: Job, now: datetime) -> JobRejected | None:
    """The budget refusal for `job` at `now` from today's stored usage, if any (at
    submission, `Runner.submit`, and again when the job starts, `Lifecycle`)."""
    spec = job.spec
    return await spent_today(store, job.config.limits, now, spec.platform, spec.workspace,
                             spec.channel, spec.user)


async def spent_today(store: _Usage, limits: Limits, now: datetime, platform: str,
                      workspace: str, channel: str, user: str) -> JobRejected | None:
    """The refusal when a daily budget of this user, channel or workspace is spent (no job
    needed: the chat intake asks before any download or post; the runner again at submit)."""
    if not has_budget(limits):
        return None
    since = start_of_day(now)
    return budget_refusal(
        limits,
        await store.usage_since(since, platform, workspace, channel),
        await store.usage_since(since, platform, workspace),
        user=0 if limits.daily_tokens_per_user is None else
        await store.user_tokens_since(since, platform, user),
    )
