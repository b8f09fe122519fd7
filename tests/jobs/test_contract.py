"""One contract, both backends: what every caller of a `JobRunner` relies on, run against the
local backend (SQLite, one process) and the distributed one (a throwaway PostgreSQL, the
procrastinate queue). Backend-specific behaviour stays in test_runner.py and
test_distributed.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import Engine, HeavyConfig
from heavy_engine.core._events import RunResult
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, FollowItem, JobRejected, JobRunner, JobSpec, JobStore
from heavy_engine.observability import Metrics
from heavy_engine.testing import FakeLLM, hang_reply, slow_reply

from .conftest import RecordingDelivery, StoredFirstDelivery, final_status, spec

# `await make(runs=False)`: a runner that takes submissions but runs nothing (local: not
# started; distributed: role `web`); `start=False`: not started yet (register deliveries first).
Make = Callable[..., Awaitable[JobRunner]]


@pytest.fixture(params=["local", "distributed"])
async def make(request: pytest.FixtureRequest, tmp_path: Path,
               config: HeavyConfig) -> AsyncIterator[Make]:
    distributed = request.param == "distributed"
    if distributed:
        pytest.importorskip("procrastinate")
        from heavy_engine.db._queue import install_queue_schema

        url = str(request.getfixturevalue("pg_url"))
        database = await Database.open(url, migrate=True)
        assert await install_queue_schema(url)
    else:
        database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}",
                                       migrate=True)
    made: list[tuple[JobRunner, Engine]] = []

    async def make_runner(*, runs: bool = True, start: bool = True,
                          limits: dict[str, Any] | None = None) -> JobRunner:
        cfg = config.with_overrides({"limits": limits}) if limits else config

        async def resolve(s: JobSpec) -> HeavyConfig:
            return cfg

        engine = Engine(cfg)
        store = JobStore(database, cfg)
        runner: JobRunner
        if distributed:
            from heavy_engine.jobs._distributed import DistributedRunner

            runner = DistributedRunner(engine, store, resolve, cfg, metrics=Metrics(),
                                       work=runs, heartbeat_s=0.5,
                                       # no test here kills a worker: on a loaded machine 3 s
                                       # let a live worker's jobs be taken for a dead one's
                                       stalled_after_s=30,
                                       # one fetch loop: these tests hold the queue order, and
                                       # two loops admitting at once may start the later job
                                       # first: heavy_admit() takes jobs as they come to it,
                                       # not in queue order (a known gap)
                                       fetchers=1)
        else:
            runner = DurableRunner(engine, store, resolve, cfg, metrics=Metrics())
        made.append((runner, engine))
        if start and (runs or distributed):
            await runner.start()
        return runner

    yield make_runner
    for runner, engine in made:
        await runner.shutdown(0)
        await engine.aclose()
    await database.close()


async def _until(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:  # the distributed counts are refreshed by a timer, not announced
            if check():
                return
            await asyncio.sleep(0.05)


async def _followed(runner: JobRunner, job_id: str, after: int = 0) -> list[FollowItem]:
    async with asyncio.timeout(20):
        return [item async for item in runner.follow(job_id, after)]


async def test_a_job_runs_to_done_is_delivered_once_and_stored(make: Make, fake: FakeLLM) -> None:
    runner = await make(start=False)
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    await runner.start()
    job = await runner.submit(spec())
    assert job is not None and job.position == 0 and job.id
    assert await final_status(runner, job.id) == "done"
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.attempts == 1 and stored.started_at
    assert stored.result is not None and "Answer" in stored.result.answer
    assert delivery.posted == [(job.id, stored.result.answer)]
    assert len(fake.calls("synthesis")) == 1
    assert await runner.seen("slack", "nope") is False


async def test_no_answer_is_posted_before_its_result_is_stored(make: Make) -> None:
    runner = await make(start=False)
    delivery = StoredFirstDelivery(runner)
    runner.register_delivery("slack", delivery)
    await runner.start()
    job = await runner.submit(spec())
    assert job is not None and await final_status(runner, job.id) == "done"
    assert delivery.found == [True]


async def test_a_duplicate_event_yields_no_second_job(make: Make) -> None:
    runner = await make(runs=False)
    assert await runner.submit(spec(dedup_key="Ev1")) is not None
    assert await runner.seen("slack", "Ev1")
    assert await runner.submit(spec(dedup_key="Ev1")) is None


async def test_a_limit_refuses_with_a_sentence_and_the_refusal_is_recorded(
        make: Make, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    runner = await make(limits={"per_user": 1, "max_queued_per_user": 0})
    first = await runner.submit(spec(user="U1"))
    assert first is not None
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec(user="U1", dedup_key="ev-last"))
    assert caught.value.reason == "user_queue"
    assert "You already have a question running" in str(caught.value)
    # A platform's retry of the refused event is dropped: its refusal has a row.
    assert await runner.submit(spec(user="U1", dedup_key="ev-last")) is None
    refused = await runner.store.find("slack", "ev-last")
    assert refused is not None and refused.status == "failed"
    assert refused.error == str(caught.value)
    assert await runner.cancel(first.id)
    assert await final_status(runner, first.id) == "cancelled"


async def test_cancel_a_queued_and_a_running_job(make: Make, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    runner = await make(limits={"max_concurrent_jobs": 1, "per_user": 5})
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    running = await runner.submit(spec())
    waiting = await runner.submit(spec())
    assert running is not None and waiting is not None
    assert (running.position, waiting.position) == (0, 1)
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    queued = await runner.get_job(waiting.id)
    assert queued is not None and (queued.status, queued.position) == ("queued", 1)
    assert await runner.cancel(waiting.id, by="U2")
    assert await final_status(runner, waiting.id) == "cancelled"
    assert await runner.cancel(running.id, by="U3")
    assert await final_status(runner, running.id) == "cancelled"
    stored = await runner.store.get(running.id)
    assert stored is not None and stored.error == "The request was cancelled."
    assert stored.stopped_by == "U3"  # who stopped it is on the record
    dropped = await runner.store.get(waiting.id)
    assert dropped is not None and dropped.stopped_by == "U2"
    assert not await runner.cancel(running.id)  # already over
    assert not await runner.cancel("no-such-job")
    assert fake.calls("synthesis") == []


async def test_counts_are_queued_and_running(make: Make, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    runner = await make(limits={"max_concurrent_jobs": 1, "per_user": 5})
    first = await runner.submit(spec())
    second = await runner.submit(spec())
    assert first is not None and second is not None
    await _until(lambda: runner.counts() == (1, 1))  # the distributed ones every second
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)  # the first one hangs
    assert await runner.cancel(first.id)
    await asyncio.wait_for(runner.drain(), 15)
    await _until(lambda: runner.counts() == (0, 0))


async def test_follow_numbers_the_events_and_ends_with_the_final_status(
        make: Make, fake: FakeLLM) -> None:
    fake.enqueue(slow_reply(1.0), when="synthesis")  # followers join while it runs
    runner = await make()
    job = await runner.submit(spec())
    assert job is not None
    whole, rest = await asyncio.gather(_followed(runner, job.id),
                                       _followed(runner, job.id, after=3))
    numbers = [n for n, _, _ in whole if n is not None]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 3
    kinds = [kind for n, kind, _ in whole if n is not None]
    assert kinds[0] == "accepted" and kinds[-1] == "done"
    assert whole[-1][:2] == (None, "status") and whole[-1][2]["status"] == "done"
    statuses = [data["status"] for n, kind, data in whole if n is None]
    assert statuses[-1] == "done" and "running" in statuses
    # A follower that resumes after the third event gets exactly the rest.
    assert [n for n, _, _ in rest if n is not None] == numbers[3:]
    assert rest[-1][2]["status"] == "done"
    # One who comes once the job is over gets its result and its final status.
    later = await _followed(runner, job.id)
    assert [kind for _, kind, _ in later][-2:] == ["done", "status"]
    assert later[-2][2]["result"]["answer"] == whole[-2][2]["result"]["answer"]
    assert [item async for item in runner.follow("no-such-job")] == []


async def test_a_queued_job_is_followed_from_its_place_in_the_queue(
        make: Make, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    runner = await make(limits={"max_concurrent_jobs": 1, "per_user": 5})
    blocker = await runner.submit(spec())
    waiting = await runner.submit(spec())
    assert blocker is not None and waiting is not None
    # (On PostgreSQL a job queued ahead counts until a worker admits it, even one about to
    # start: follow once the blocker runs.)
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    async with asyncio.timeout(20):
        follow = runner.follow(waiting.id)
        first = await anext(follow)
        assert await runner.cancel(blocker.id)
        items = [first, *[item async for item in follow]]
    statuses = [(d["status"], d["position"]) for n, _, d in items if n is None]
    assert statuses[0] == ("queued", 1) and statuses[-1] == ("done", None)
    assert ("running", None) in statuses
    assert "done" in [kind for n, kind, _ in items if n is not None]


async def test_a_failing_delivery_fails_the_job_but_keeps_the_answer(make: Make) -> None:
    class Broken:
        async def deliver(self, job: object, run: object) -> None:
            raise RuntimeError("chat API down")

    runner = await make(start=False)
    runner.register_delivery("slack", Broken())
    await runner.start()
    job = await runner.submit(spec())
    assert job is not None and await final_status(runner, job.id) == "failed"
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.error == "The answer could not be delivered."
    assert stored.result is not None and stored.result.answer


async def test_shutdown_lets_running_jobs_finish_and_refuses_new_ones(
        make: Make, fake: FakeLLM) -> None:
    fake.latency = 0.05
    runner = await make()
    job = await runner.submit(spec())
    assert job is not None and runner.accepting
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    await runner.shutdown(15)
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.status == "done"
    assert not runner.accepting
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec())
    assert caught.value.reason == "shutting_down"


async def test_stop_intake_refuses_new_jobs_and_drain_waits_for_the_rest(make: Make) -> None:
    runner = await make()
    jobs = [await runner.submit(spec(user=f"U{i}")) for i in range(3)]
    runner.stop_intake()
    assert not runner.accepting
    with pytest.raises(JobRejected, match="restarting"):
        await runner.submit(spec())
    await asyncio.wait_for(runner.drain(), 20)
    for job in jobs:
        assert job is not None
        stored = await runner.store.get(job.id)
        assert stored is not None and stored.status == "done"


async def test_a_stored_result_is_replayed_after_a_restart_not_run_again(
        make: Make, fake: FakeLLM) -> None:
    """A job whose result was stored before its process died is delivered from that result
    by whichever runner takes it next: no model is asked again."""
    first = await make(runs=False)
    job = await first.submit(spec())
    assert job is not None
    # The crash: the result is stored, the job's end is not.
    job.status, job.attempts = "running", 1
    job.result = RunResult(request_id=job.id, question=job.spec.question, status="ok",
                           answer="The stored answer.")
    await first.store.save(job)

    second = await make(start=False)
    delivery = RecordingDelivery()
    second.register_delivery("slack", delivery)
    await second.start()
    assert await final_status(second, job.id) == "done"
    assert fake.calls() == []
    assert delivery.posted == [(job.id, "The stored answer.")]
    stored = await second.store.get(job.id)
    assert stored is not None and stored.attempts == 2
    assert stored.result is not None and stored.result.answer == "The stored answer."
