"""The Slack scenario harness: the real Bolt app served over HTTP with signature checks on, a
local fake Slack Web API, a real database in tmp_path and the durable job runner on it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from bots.slack import SlackAdapter, slack_env
from heavy_engine import Engine, HeavyConfig
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, JobStore, Services
from heavy_engine.settings import SettingsStore

from .fake_slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-0000-test-token-never-real"


@dataclass
class Slack:
    fake: FakeSlack
    adapter: SlackAdapter
    runner: DurableRunner
    settings: SettingsStore
    http: TestClient

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None,
                   secret: str = SECRET, headers: dict[str, str] | None = None,
                   ) -> ClientResponse:
        """POST like Slack does: signed with the real algorithm (or deliberately not)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                       "X-Slack-Signature": signature, **(headers or {})}
        return await self.http.post("/slack/events", data=body.encode(), headers=all_headers)

    async def event(self, payload: dict[str, Any], **kw: Any) -> ClientResponse:
        return await self.post(json.dumps(payload), "application/json", **kw)

    async def command(self, fields: dict[str, str], **kw: Any) -> ClientResponse:
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)

    async def interaction(self, payload: dict[str, Any], **kw: Any) -> ClientResponse:
        return await self.post(urlencode({"payload": json.dumps(payload)}),
                               "application/x-www-form-urlencoded", **kw)

    async def settle(self) -> None:
        """Wait for listeners, then runs and their deliveries, to finish.

        Bolt starts a listener as a task after acking, so the HTTP response can arrive before
        the listener has begun: idle must hold for a few loop turns in a row.
        """
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.01)
            busy = bool(self.adapter.bot._inflight or self.runner.backend._tasks)
            await self.adapter.bot.drain()
            await self.runner.drain()
            quiet = 0 if busy else quiet + 1


def simulated_config(**overrides: Any) -> HeavyConfig:
    return HeavyConfig(provider="simulated", agents=2).with_overrides(overrides)


MakeSlack = Callable[..., Awaitable[Slack]]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.aclose()
    # Whatever a test asserted, nothing the adapter sent may break Block Kit's limits.
    assert not [c for c in fake.calls if c.error == "invalid_blocks"]


@pytest.fixture
async def make_slack(fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[MakeSlack]:
    """Builds a harness; call it again (same database) to simulate a restart."""
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(config: HeavyConfig | None = None, *, edit_interval: float = 0.05,
                   engine: Engine | None = None, durable: bool = False,
                   streaming: bool = False, socket_mode: bool = False,
                   extra_env: dict[str, str] | None = None) -> Slack:
        config = config or simulated_config()
        db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}")
        settings = SettingsStore(db, config)
        own_engine = engine is None
        engine = engine or Engine(config, env={})
        # `durable` is kept for the tests that say so: every harness runs the durable runner.
        runner = DurableRunner(engine, JobStore(db, config), settings.resolve_job, config)
        env = slack_env({"SLACK_BOT_TOKEN": TOKEN,
                         "SLACK_SIGNING_SECRET": "" if socket_mode else SECRET,
                         "SLACK_API_URL": fake_slack.api_url,
                         "SLACK_STREAMING": "1" if streaming else "0",
                         "SLACK_APP_TOKEN": "xapp-1-test-never-real" if socket_mode else "",
                         **(extra_env or {})})
        assert env is not None
        services = Services(config=config, engine=engine, runner=runner, settings=settings,
                            env={}, metrics=runner.metrics)  # one Metrics, as in heavy serve
        adapter = SlackAdapter(services, env, edit_interval=edit_interval)
        app = web.Application()
        app.add_routes(adapter.routes())
        http = TestClient(TestServer(app))
        await http.start_server()
        await adapter.start()
        await runner.start()

        async def close() -> None:
            await http.close()
            await adapter.stop()
            await runner.shutdown(5)
            if own_engine:
                await engine.aclose()
            await db.close()

        cleanups.append(close)
        return Slack(fake_slack, adapter, runner, settings, http)

    yield make
    for close in reversed(cleanups):
        await close()


@pytest.fixture
async def slack(make_slack: MakeSlack) -> Slack:
    return await make_slack()
