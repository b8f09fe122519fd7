"""InMemoryRunner keeps the JobRunner promises the adapters' tests rely on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from heavy_engine import Engine, HeavyConfig
from heavy_engine.runtime import InMemoryRunner, JobSpec
from heavy_engine.testing import FakeLLM, fake_config, hang_reply


async def test_cancel_drops_a_queued_job_and_stops_a_running_one(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = fake_config(fake_llm.base_url, agents=1)
    fake_llm.enqueue(hang_reply(), when="agent")
    async with Engine(config, scratch_root=tmp_path) as engine:
        async def resolve(spec: JobSpec) -> HeavyConfig:
            return config

        runner = InMemoryRunner(engine, resolve, concurrency=1)
        first = await runner.submit(JobSpec("api", "", "c", "u", "first"))
        second = await runner.submit(JobSpec("api", "", "c", "u", "second"))
        assert first is not None and second is not None
        await fake_llm.wait_for(lambda f: bool(f.calls("agent")))
        assert second.status == "queued"
        assert await runner.cancel(second.id)  # waiting for the slot: dropped
        assert second.status == "cancelled"
        assert await runner.cancel(first.id)  # running: its run is cancelled
        await asyncio.wait_for(runner.drain(), 5)
        assert (first.status, second.status) == ("cancelled", "cancelled")
        assert not await runner.cancel(first.id)  # finished: nothing to stop
        assert [c.body["messages"][-1]["content"] for c in fake_llm.calls("agent")] == ["first"]
