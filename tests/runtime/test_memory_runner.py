"""InMemoryRunner keeps the JobRunner promises the adapters' tests rely on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from heavy_engine import Engine, HeavyConfig
from heavy_engine.attachments import Attachments, Document
from heavy_engine.runtime import InMemoryRunner, JobRejected, JobSpec
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


async def test_the_same_who_may_ask_check_and_attachments(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = fake_config(fake_llm.base_url, agents=1, tools=[]).with_overrides(
        {"access": {"channel": {"block_users": ["bad"]}}})
    async with Engine(config, scratch_root=tmp_path) as engine:
        async def resolve(spec: JobSpec) -> HeavyConfig:
            return config

        runner = InMemoryRunner(engine, resolve)
        with pytest.raises(JobRejected) as caught:
            await runner.submit(JobSpec("discord", "G", "c", "bad", "q"))
        assert caught.value.reason == "not_allowed"
        assert fake_llm.requests == []
        files = Attachments(documents=[Document("a.txt", "text", "The code is 7.")])
        job = await runner.submit(JobSpec("discord", "G", "c", "good", "q",
                                          attachments=files.as_dict()))
        assert job is not None
        await asyncio.wait_for(runner.drain(), 5)
        assert "The code is 7." in str(fake_llm.calls("agent")[0].body)
