"""Cancelling: a queued job is dropped, a running one stopped, and who stopped it is recorded
(the contract the adapters' tests rely on; it was InMemoryRunner's, now the durable runner's)."""

from __future__ import annotations

import asyncio

from heavy_engine.jobs import Job
from heavy_engine.testing import FakeLLM, fake_config, hang_reply

from .conftest import MakeRunner, spec


async def test_cancel_drops_a_queued_job_and_stops_a_running_one(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="agent")
    runner = await make_runner(limits={"max_concurrent_jobs": 1},
                               base=fake_config(fake.base_url, agents=1))
    first = await runner.submit(spec("first"))
    second = await runner.submit(spec("second", user="U2"))
    assert first is not None and second is not None
    await fake.wait_for(lambda f: bool(f.calls("agent")))
    assert second.status == "queued"
    assert await runner.cancel(second.id, by="U9")  # waiting for the slot: dropped
    assert second.status == "cancelled"
    assert await runner.cancel(first.id, by="U1")  # running: its run is cancelled
    await asyncio.wait_for(runner.drain(), 5)
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert not await runner.cancel(first.id)  # finished: nothing to stop
    assert [c.body["messages"][-1]["content"] for c in fake.calls("agent")] == ["first"]
    stored = [await runner.store.get(j.id) for j in (first, second)]
    assert [s.stopped_by if s else None for s in stored] == ["U1", "U9"]  # on the record


async def test_a_cancelled_queued_job_is_counted_before_its_end_is_stored(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    # Whoever reads the job cancelled sees it counted (as for a job whose run ended).
    fake.enqueue(hang_reply(), when="agent")
    runner = await make_runner(limits={"max_concurrent_jobs": 1},
                               base=fake_config(fake.base_url, agents=1))
    running = await runner.submit(spec("first"))
    queued = await runner.submit(spec("second", user="U2"))
    assert running is not None and queued is not None and queued.status == "queued"
    counted_at_save: list[float | None] = []
    save = runner.store.save

    async def recording_save(job: Job) -> None:
        if job.status == "cancelled":
            counted_at_save.append(runner.metrics.registry.get_sample_value(
                "heavy_jobs_finished_total", {"platform": "slack", "status": "cancelled"}))
        await save(job)

    runner.store.save = recording_save  # type: ignore[method-assign]
    assert await runner.cancel(queued.id, by="U9")
    assert counted_at_save == [1.0]
