"""`heavy serve` with DISCORD_TOKEN: the real process answers `/heavy` and a mention in threads."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .fake_discord import BOT_ID, CHANNEL_ID, FakeDiscord
from .helpers import message_posts, slash_heavy, wait_final
from .test_mentions import said

pytestmark = pytest.mark.asyncio(loop_scope="package")
HEAVY = Path(sys.executable).with_name("heavy")


@pytest_asyncio.fixture(loop_scope="package")
async def served(tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord().start()
    config = tmp_path / "config.yaml"
    config.write_text("provider: simulated\nagents: 2\n", encoding="utf-8")
    env = {
        **os.environ, "DISCORD_TOKEN": "serve-token", "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url, "HEAVY_CONFIG": str(config),
        "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}", "PORT": "0",
        "HEAVY_HOST": "127.0.0.1",
    }
    log = (tmp_path / "serve.log").open("w")
    proc = await asyncio.create_subprocess_exec(str(HEAVY), "serve", env=env, stdout=log,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        await fake.wait_for(lambda: fake.identifies, within=60)  # heavy serve started
        yield fake
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)
        log.close()
        await fake.aclose()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()


async def test_heavy_serve_answers_slash_commands_and_mentions(served: FakeDiscord) -> None:
    fake = served
    assert fake.find("PUT", r"/applications/\d+/commands")  # commands synced on start
    payload = slash_heavy("Served: SQLite or PostgreSQL?")
    await fake.interact(payload)
    await fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    card = fake.original(payload["token"])
    final = await wait_final(fake, card, within=30)
    assert final.body["embeds"][0]["title"] == "✅ Done"
    [answer] = await fake.wait_for(lambda: message_posts(fake, card))  # in the card's thread
    assert "[simulated]" in answer.body["content"]

    msg = said(f"<@{BOT_ID}> and for a mobile app?")
    await fake.user_message(msg)
    await fake.wait_for(lambda: len(message_posts(fake, msg["id"])) >= 2, within=30)
    posts = message_posts(fake, msg["id"])
    assert posts[0].body["embeds"]  # the card, in the thread started from the message
    assert not message_posts(fake, CHANNEL_ID)
