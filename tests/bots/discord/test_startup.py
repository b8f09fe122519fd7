"""`heavy serve` with Discord unreachable or a refused token: one line naming the cause, retried
with back-off (a bad token is not: it says so), the state in /healthz and /metrics, and no
voice warnings. The real process, started the way an operator starts it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.request import urlopen

import pytest
import pytest_asyncio
from aiohttp import web

pytestmark = pytest.mark.asyncio(loop_scope="package")
HEAVY = Path(sys.executable).with_name("heavy")


class Served:
    def __init__(self, log: Path) -> None:
        self.log = log
        self.url = ""

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    async def wait(self, seen: Callable[[str], bool], within: float = 60) -> str:
        """The log once `seen` holds for it (a file another process writes: polled)."""
        for _ in range(int(within * 10)):
            if seen(text := self.text()):
                return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"not seen within {within} s:\n{self.text()}")

    def get(self, path: str) -> str:
        with urlopen(self.url + path, timeout=10) as resp:
            return str(resp.read().decode())


async def _serve(tmp_path: Path, api_url: str) -> AsyncIterator[Served]:
    config = tmp_path / "config.yaml"
    config.write_text("provider: simulated\nagents: 2\n", encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "a-token", "DISCORD_API_URL": api_url,
           "HEAVY_CONFIG": str(config), "PORT": "0", "HEAVY_HOST": "127.0.0.1",
           "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"}
    served = Served(tmp_path / "serve.log")
    with served.log.open("w") as log:
        proc = await asyncio.create_subprocess_exec(str(HEAVY), "serve", env=env, stdout=log,
                                                    stderr=asyncio.subprocess.STDOUT)
        try:
            text = await served.wait(lambda t: "heavy serving on" in t)
            served.url = re.search(r"heavy serving on (http://\S+)", text).group(1)  # type: ignore[union-attr]
            yield served
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=30)
    assert proc.returncode == 0, served.text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


@pytest_asyncio.fixture(loop_scope="package")
async def unreachable(tmp_path: Path) -> AsyncIterator[Served]:
    async for served in _serve(tmp_path, f"http://127.0.0.1:{_closed_port()}/api/v10"):
        yield served


@pytest_asyncio.fixture(loop_scope="package")
async def refused(tmp_path: Path) -> AsyncIterator[tuple[Served, list[str]]]:
    """A Discord that answers every token with 401, as it does a wrong one."""
    asked: list[str] = []

    async def users_me(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", users_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10"
        async for served in _serve(tmp_path, url):
            yield served, asked
    finally:
        await runner.cleanup()


def _health(served: Served) -> dict[str, str]:
    return dict(json.loads(served.get("/healthz"))["adapters"]["discord"])


async def test_unreachable_discord_is_one_line_and_retried(unreachable: Served) -> None:
    text = await unreachable.wait(lambda t: t.count("retrying in") >= 2)
    lines = [line for line in text.splitlines() if "heavy.discord: cannot reach Discord" in line]
    assert len(lines) >= 2
    assert "ClientConnectorError" in lines[0] and "retrying in 2 s" in lines[0]
    assert "retrying in 4 s" in lines[1]  # backing off
    assert "Traceback" not in text and "voice" not in text.lower()
    health = _health(unreachable)
    assert health["state"] in ("retrying", "connecting")
    metrics = unreachable.get("/metrics")
    assert re.search(r'heavy_adapter_state\{adapter="discord",state="(retrying|connecting)"\} 1',
                     metrics)


async def test_a_refused_token_is_said_once_and_not_retried(
        refused: tuple[Served, list[str]]) -> None:
    served, asked = refused
    text = await served.wait(lambda t: "refused DISCORD_TOKEN" in t)
    [line] = [line for line in text.splitlines() if "refused DISCORD_TOKEN" in line]
    assert "ERROR" in line and "not retrying" in line
    await asyncio.sleep(3)  # longer than the first back-off: nothing more is tried
    assert asked == ["/api/v10/users/@me"]
    assert "Traceback" not in served.text() and "voice" not in served.text().lower()
    assert _health(served) == {"state": "off", "detail": line.split("heavy.discord: ", 1)[1]}
    assert 'heavy_adapter_state{adapter="discord",state="off"} 1' in served.get("/metrics")
