"""One fake Discord, one fake LLM and one logged-in discord.py client for all scenario tests.

Logging in and connecting takes a moment, so the stack is shared (package scope, one event
loop); each test gets `stack` reset: recorded calls cleared, no run left over, stops forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bots.discord import DiscordAdapter, DiscordOptions  # first: imports discord quietly

import discord  # isort: skip
from heavy_engine import Engine, HeavyConfig
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, JobStore, Services
from heavy_engine.settings import SettingsStore
from heavy_engine.testing import FakeLLM, fake_config

from .fake_discord import Call, FakeDiscord
from .helpers import assert_safe_mentions, wait_final

EDIT_INTERVAL = 0.3  # seconds between card edits per channel in tests (production: 1.2)
ALLOWED_MODELS = ["fake/model", "fake/other"]


@dataclass
class Stack:
    fake: FakeDiscord
    llm: FakeLLM
    adapter: DiscordAdapter
    runner: DurableRunner
    settings: SettingsStore
    config: HeavyConfig

    async def drain(self) -> None:
        await asyncio.wait_for(self.runner.drain(), timeout=30)

    async def finish(self, card_id: str) -> Call:
        """Wait for the card's final state, then for the job to end; the final edit."""
        final = await wait_final(self.fake, card_id)
        await self.drain()
        return final


def stack_config(base_url: str) -> HeavyConfig:
    return fake_config(base_url, agents=2, allowed_models=ALLOWED_MODELS,
                       tools=["calculate", "mark_task_complete"],
                       timeouts={"request": 30, "agent": 20, "llm_call": 10, "tool": 5})


@contextlib.asynccontextmanager
async def open_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A logged-in stack; its own package or module shares it (one at a time: discord.py's
    REST base and gateway are process-wide)."""
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = await FakeDiscord().start()
    llm = await FakeLLM().start()
    config = stack_config(llm.base_url)
    db_path = tmp_path_factory.mktemp("discord-db") / "heavy.db"
    db = await Database.open(f"sqlite+aiosqlite:///{db_path}")
    settings = SettingsStore(db, config)
    engine = Engine(config, env={})
    runner = DurableRunner(engine, JobStore(db, config), settings.resolve_job, config)
    env: dict[str, Any] = {"DISCORD_TOKEN": "fake-token"}
    services = Services(config=config, engine=engine, runner=runner, settings=settings, env=env)
    options = DiscordOptions(token="fake-token", api_url=fake.api_url,
                             gateway_url=fake.gateway_url, edit_interval=EDIT_INTERVAL)
    adapter = DiscordAdapter(services, options, guild_ready_timeout=0.05, refresh=5.0)
    await adapter.start()
    await runner.start()
    try:
        await asyncio.wait_for(adapter.ready.wait(), timeout=60)  # start-up: generous
        yield Stack(fake, llm, adapter, runner, settings, config)
    finally:
        await runner.shutdown(5)
        await adapter.stop()
        await engine.aclose()
        await db.close()
        await llm.aclose()
        await fake.aclose()
        discord.http.Route.BASE = base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path_factory) as opened:
        yield opened


@contextlib.asynccontextmanager
async def reset_stack(shared: Stack) -> AsyncIterator[Stack]:
    """One test's turn on a shared stack: records cleared before, its limits checked after."""
    shared.llm.reset()
    shared.fake.calls.clear()
    yield shared
    await shared.drain()
    assert_safe_mentions(shared.fake)  # every test: no message may ping everyone or roles
    too_big = [c for c in shared.fake.calls if c.status == 400
               and str(c.response.get("message")).startswith("Invalid Form Body: ")]
    assert not too_big, too_big  # nor break Discord's size limits


@pytest_asyncio.fixture(loop_scope="package")
async def stack(shared_stack: Stack) -> AsyncIterator[Stack]:
    async with reset_stack(shared_stack) as turn:
        yield turn
