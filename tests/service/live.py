"""One live `heavy serve` HTTP app for the whole session (real TCP port, real runner on SQLite,
the fake LLM behind it), for the tests that drive it with the official `openai` and `mcp`
clients. Tests use their own `user` so the per-user limits of one never hold up another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from heavy_engine import Engine
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, Job, JobStore
from heavy_engine.observability import Metrics
from heavy_engine.service import READY, build_app
from heavy_engine.settings import SettingsStore
from heavy_engine.testing import FakeLLM, fake_config

TOKEN = "live-service-token-0123456789"
# One running job and none queued per user: a second question from the same user is a 429.
LIMITS = {"per_user": 1, "max_queued_per_user": 0}


@dataclass(slots=True)
class Live:
    url: str  # http://127.0.0.1:PORT
    runner: DurableRunner
    fake: FakeLLM
    token: str = TOKEN


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("live") / "heavy.db"
    async with FakeLLM() as fake:
        config = fake_config(fake.base_url, agents=2, tools=["calculate"],
                             timeouts={"request": 60}, limits=LIMITS)
        db = await Database.open(f"sqlite+aiosqlite:///{path}", migrate=True)
        engine = Engine(config)
        runner = DurableRunner(engine, JobStore(db, config), SettingsStore(db, config).resolve_job,
                               config, metrics=Metrics())
        await runner.start()
        app = build_app(runner, runner.metrics, api_token=TOKEN)
        app[READY].ready = True
        # As `heavy serve` runs it: no handler cancellation when a client leaves.
        http = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await http.setup()
        site = web.TCPSite(http, "127.0.0.1", 0)
        await site.start()
        try:
            yield Live(f"http://127.0.0.1:{http.addresses[0][1]}", runner, fake)
        finally:
            await http.cleanup()
            await runner.shutdown(0)
            await engine.aclose()
            await db.close()


async def job_reaches(runner: DurableRunner, job_id: str, status: str, within: float = 60) -> Job:
    """The job once its status is `status` (TimeoutError after `within` seconds: generous, a
    loaded machine is slow, not hung)."""
    async with asyncio.timeout(within):
        while True:
            changed = runner.backend.watch(job_id)
            job = await runner.get_job(job_id)
            if job is not None and job.status == status:
                return job
            await changed.wait()
