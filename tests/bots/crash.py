"""A worker killed after a chat platform accepted a post but before the ledger recorded it.

`DyingSave` stands in for the runner under a `ReplyPipeline`: it keeps what a save would have
written, and when `dies(reply)` says so, the process "dies" instead (the save raises
`CancelledError`, as a kill leaves the delivery: nothing after it happens). `retry` is the job
as the next attempt reads it back from the database; `attempt` runs one delivery of it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from heavy_engine import Engine, HeavyRequest
from heavy_engine.delivery import ReplyPipeline, Surface
from heavy_engine.jobs import Job, JobRunner

Dies = Callable[[dict[str, Any]], bool]  # the reply state about to be saved -> killed now?


def after_card(reply: dict[str, Any]) -> bool:
    """Killed right after the platform took the card."""
    return "card" in reply


def after_part(count: int) -> Dies:
    """Killed right after the platform took the answer's part number `count` (from 1)."""
    return lambda reply: reply.get("parts") == count


class DyingSave:
    def __init__(self, dies: Dies = lambda reply: False) -> None:
        self.dies = dies
        self.saved: dict[str, Any] | None = None  # the last reply state that was stored

    async def save_reply(self, job: Job) -> None:
        if self.dies(job.reply):
            raise asyncio.CancelledError  # killed: the ledger never learns of the post
        self.saved = copy.deepcopy(job.reply)

    async def stored(self, job: Job) -> None:
        return None  # the scenarios store no results: each attempt runs anew

    def retry(self, job: Job, first_reply: dict[str, Any]) -> Job:
        """`job`'s next attempt, with the reply state the database holds."""
        reply = copy.deepcopy(self.saved if self.saved is not None else first_reply)
        return Job(id=job.id, spec=replace(job.spec, reply=reply), config=job.config,
                   created_at=job.created_at, attempts=job.attempts + 1)


async def attempt(engine: Engine, surface: Surface, job: Job, save: DyingSave) -> None:
    """One attempt at `job`: a run, delivered through `surface`, the ledger kept by `save`."""
    pipeline = ReplyPipeline(cast(JobRunner, save), surface, name=job.spec.platform)
    run = engine.start(HeavyRequest(job.spec.question, job.config, id=job.id))
    try:
        await pipeline.deliver(job, run)
    finally:
        run.cancel()  # a killed worker's run ends with it
        await run.wait()
