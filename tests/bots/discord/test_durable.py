"""With the durable runner of `heavy serve`: restarts and queueing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bots.discord import DiscordAdapter, DiscordOptions
from heavy_engine import Engine, HeavyConfig
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, JobStore, Services
from heavy_engine.settings import SettingsStore

from .conftest import Stack
from .fake_discord import CHANNEL_ID, FakeDiscord
from .helpers import BOB, message_posts, slash_heavy, wait_final

import discord  # isort: skip

pytestmark = pytest.mark.asyncio(loop_scope="package")
Process = tuple[DiscordAdapter, DurableRunner]


@pytest_asyncio.fixture(loop_scope="package")
async def own_fake(stack: Stack) -> AsyncIterator[FakeDiscord]:
    """A second fake, so the shared client never sees these gateway events."""
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = await FakeDiscord().start()
    try:
        yield fake
    finally:
        await fake.aclose()
        discord.http.Route.BASE = base  # the shared client goes back to its own fake
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@pytest_asyncio.fixture(loop_scope="package")
async def process(
    stack: Stack, own_fake: FakeDiscord, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Process]]]:
    """Starts a `heavy serve`-like process (same database each time): adapter, then runner."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}")
    engine = Engine(stack.config, env={})
    started: list[Process] = []

    async def start(config: HeavyConfig | None = None) -> Process:
        config = config or stack.config
        settings = SettingsStore(db, config)
        runner = DurableRunner(engine, JobStore(db, config), settings.resolve_job, config)
        services = Services(config=config, engine=engine, runner=runner,
                            settings=settings, env={})
        options = DiscordOptions(token="fake-token", api_url=own_fake.api_url,
                                 gateway_url=own_fake.gateway_url, edit_interval=0.05)
        adapter = DiscordAdapter(services, options, guild_ready_timeout=0.05)
        await adapter.start()
        await runner.start()
        await asyncio.wait_for(adapter.ready.wait(), timeout=60)  # start-up: generous
        started.append((adapter, runner))
        return adapter, runner

    try:
        yield start
    finally:
        for adapter, runner in reversed(started):
            await runner.shutdown(5)
            await adapter.stop()
        await engine.aclose()
        await db.close()


async def test_a_resumed_job_edits_the_same_card_and_answers_once(
    stack: Stack, own_fake: FakeDiscord, process: Callable[..., Awaitable[Process]]
) -> None:
    fake = own_fake
    adapter, runner = await process()
    stack.llm.latency = 0.3
    try:
        payload = slash_heavy("Survive a restart")
        await fake.interact(payload)
        await fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
        card = fake.original(payload["token"])
        # The thread id reaches the database before the process dies.
        await fake.wait_for(lambda: any(j.reply.get("thread")
                                        for j in runner.backend._running.values()))
        await runner.shutdown(0)  # the process dies mid-run
        await adapter.stop()
        assert not message_posts(fake, card)  # no answer yet
    finally:
        stack.llm.latency = 0.0
    await process()  # the next process picks the job up again
    final = await wait_final(fake, card)
    assert final.body["embeds"][0]["title"] == "✅ Done"
    await fake.wait_for(lambda: message_posts(fake, card))
    await asyncio.sleep(0.2)
    assert len(fake.find("POST", r"/channels/\d+/messages/\d+/threads")) == 1  # one thread
    assert len(message_posts(fake, card)) == 1  # one answer, in that thread
    assert not message_posts(fake, CHANNEL_ID)  # and no second card anywhere


async def test_a_queued_question_says_so_then_becomes_the_card(
    stack: Stack, own_fake: FakeDiscord, process: Callable[..., Awaitable[Process]]
) -> None:
    fake = own_fake
    config = stack.config.with_overrides({"limits": {"max_concurrent_jobs": 1}})
    await process(config)
    stack.llm.latency = 0.1
    try:
        first, second = slash_heavy("First in line"), slash_heavy("Second in line", uid=BOB)
        await fake.interact(first)
        await fake.wait_call("POST", rf"/interactions/{first['id']}/[^/]+/callback")
        await fake.interact(second)
        [note, *_] = await fake.wait_call("PATCH", rf"/webhooks/\d+/{second['token']}/messages/.+")
        assert note.body["content"] == "⏳ Queued: position 1. I'll start soon."
        card = fake.original(second["token"])
        final = await wait_final(fake, card)
    finally:
        stack.llm.latency = 0.0
    assert final.body["content"] is None  # null content: the note gives way to the card
    assert fake.messages[card]["content"] == ""
    assert final.body["embeds"][0]["title"] == "✅ Done"
