"""Runtime fixtures: a migrated database (SQLite in tmp_path, and PostgreSQL) and runners on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heavy_engine import Engine, HeavyConfig, Run
from heavy_engine.db import Database
from heavy_engine.jobs import FINAL_STATUSES, DurableRunner, Job, JobRunner, JobSpec, JobStore
from heavy_engine.observability import Metrics
from heavy_engine.service import READY, NamedTokens, build_app
from heavy_engine.testing import FakeLLM, fake_config

MakeRunner = Callable[..., Awaitable[DurableRunner]]


def spec(question: str = "Why is the sky blue?", **fields: Any) -> JobSpec:
    """A Slack-like job spec; override any field."""
    base: dict[str, Any] = {"platform": "slack", "workspace": "T1", "channel": "C1",
                            "user": "U1", "question": question}
    base.update(fields)
    return JobSpec(**base)


class RecordingDelivery:
    """A front end that records what it would post, and posts an answer only once per job."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []  # (job id, answer)
        self.seen: list[str] = []
        self.runner: DurableRunner | None = None

    async def deliver(self, job: Job, run: Run) -> None:
        self.seen.append(job.id)
        async for event in run.stream():
            if event.type == "done" and not job.reply.get("answered"):
                assert run.result is not None
                self.posted.append((job.id, run.result.answer or run.result.error or ""))
                job.reply["answered"] = True
                if self.runner is not None:
                    await self.runner.save_reply(job)


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The jobs store and the runner's tests run on SQLite and on a throwaway PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    database = await Database.open(url, migrate=True)
    yield database
    await database.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


@pytest.fixture
def config(fake: FakeLLM) -> HeavyConfig:
    return fake_config(fake.base_url, agents=2, tools=["calculate"],
                       timeouts={"request": 20})


@pytest.fixture
async def make_runner(db: Database, config: HeavyConfig) -> AsyncIterator[MakeRunner]:
    """`await make_runner(limits={...}, start=True)`: a runner over the shared database."""
    made: list[tuple[DurableRunner, Engine]] = []

    async def make(*, start: bool = True, limits: dict[str, Any] | None = None,
                   base: HeavyConfig | None = None, **kwargs: Any) -> DurableRunner:
        cfg = base or config
        if limits:
            cfg = cfg.with_overrides({"limits": limits})

        async def resolve(s: JobSpec) -> HeavyConfig:
            return cfg.with_overrides(s.flags) if s.flags else cfg

        engine = Engine(cfg)
        runner = DurableRunner(engine, JobStore(db, cfg), resolve, cfg,
                               metrics=Metrics(), **kwargs)
        made.append((runner, engine))
        if start:
            await runner.start()
        return runner

    yield make
    for runner, engine in made:
        await runner.shutdown(0)
        await engine.aclose()


async def settle(runner: DurableRunner, within: float = 5.0) -> None:
    """Until nothing is queued or running."""
    await asyncio.wait_for(runner.drain(), within)


async def final_status(runner: JobRunner, job_id: str, within: float = 15.0) -> str:
    """The job's status once it is over (read back until then, on either backend)."""
    async def wait() -> str:
        while True:
            job = await runner.get_job(job_id)
            assert job is not None
            if job.status in FINAL_STATUSES:
                return job.status
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), within)


Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[tuple[Client, DurableRunner]]]


@pytest.fixture
async def make_client(make_runner: MakeRunner) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(token: str | None = None, named: NamedTokens | None = None,
                   **runner_kwargs: Any) -> tuple[Client, DurableRunner]:
        runner = await make_runner(**runner_kwargs)
        app = build_app(runner, runner.metrics, api_token=token, api_tokens=named)
        app[READY].ready = True
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, runner

    yield make
    for client in clients:
        await client.close()


class StoredFirstDelivery:
    """A front end that, at the run's end, waits for the runner's `stored` and reads the job
    back, as the reply pipeline does before it posts an answer: what it found stored."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.found: list[bool] = []  # per job: its result was stored before the answer

    async def deliver(self, job: Job, run: Run) -> None:
        async for event in run.stream():
            if event.type == "done":
                await self.runner.stored(job)
                row = await self.runner.store.get(job.id)
                self.found.append(row is not None and row.result is not None)
