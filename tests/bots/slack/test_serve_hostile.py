"""A real `heavy serve` in Slack HTTP mode under 1,000 unsigned garbage requests (issue 10,
item 4): every one is 401, the log stays (almost) silent, and signed Slack requests still work."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ...service.test_serve import Server, _env
from .conftest import SECRET, TOKEN
from .fake_slack import FakeSlack
from .test_hostile_requests import GARBAGE, SIGNED_GARBAGE

REQUESTS = 1000


def _signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.aclose()


async def _flood(url: str) -> list[int]:
    """REQUESTS unsigned bodies, 20 at a time, with forged or missing signature headers."""
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> None:
            body, content_type = GARBAGE[i % len(GARBAGE)]
            headers = {"Content-Type": content_type}
            if i % 3:
                headers |= {"X-Slack-Request-Timestamp": ["soon", "", "9" * 40][i % 3],
                            "X-Slack-Signature": "v0=" + "f" * 64}
            async with session.post(f"{url}/slack/events", data=body, headers=headers) as r:
                statuses.append(r.status)

        for start in range(0, REQUESTS, 20):
            await asyncio.gather(*(one(i) for i in range(start, start + 20)))
    return statuses


@pytest.mark.parametrize("verbose", [False, True])
async def test_unsigned_garbage_costs_a_401_and_no_log(tmp_path: Path, fake: FakeSlack,
                                                       verbose: bool) -> None:
    env = _env(tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
               SLACK_API_URL=fake.api_url, HEAVY_LOG_FORMAT="text")
    (tmp_path / "config.yaml").write_text("provider: simulated\nagents: 2\n")
    server = await Server(tmp_path, env, *(["--verbose"] if verbose else [])).start()
    assert server.url, "\n".join(server.lines)
    try:
        await asyncio.sleep(0.5)  # startup's last lines come after "serving on"
        before = sum(len(line) + 1 for line in server.lines)
        count = len(server.lines)
        statuses = await _flood(server.url)
        await asyncio.sleep(0.3)  # the last lines reach the pipe
        flood_lines = server.lines[count:]
        logged = sum(len(line) + 1 for line in flood_lines)
        print(f"{REQUESTS} unsigned requests, {'DEBUG' if verbose else 'INFO'} level: "
              f"{len(flood_lines)} log lines, {logged} bytes (startup wrote {before})")
        assert statuses == [401] * REQUESTS
        assert not [ln for ln in flood_lines if " ERROR " in ln or "Traceback" in ln]
        if verbose:
            assert len(flood_lines) <= REQUESTS and logged <= 100 * REQUESTS
        else:
            assert logged == 0, flood_lines[:5]

        # Signed garbage: 400 (or an ignored 200/404), never 500; a real request still works.
        async with aiohttp.ClientSession() as session:
            for body, content_type in SIGNED_GARBAGE:
                headers = {"Content-Type": content_type, **_signed(body)}
                async with session.post(f"{server.url}/slack/events", data=body,
                                        headers=headers) as resp:
                    assert resp.status in (200, 400, 401, 404), (body[:60], resp.status)
            body = b'{"type": "url_verification", "challenge": "c-123", "token": "x"}'
            async with session.post(f"{server.url}/slack/events", data=body,
                                    headers={"Content-Type": "application/json",
                                             **_signed(body)}) as resp:
                assert resp.status == 200 and "c-123" in await resp.text()
            async with session.get(f"{server.url}/healthz") as resp:
                assert resp.status == 200
        assert not [ln for ln in server.lines if " ERROR " in ln or "Traceback" in ln]
    finally:
        server.kill()
        await server.wait()
