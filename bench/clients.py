"""What a chat UI and an MCP client see of one heavy run, through the official clients.

A live service (real runner on SQLite, the HTTP app on a real port) answers from the fake LLM,
whose every call takes `--latency` seconds before its first token. Prints:

- the OpenAI endpoint: over `--runs` streamed completions, the time from the reasoning line
  that says the synthesis started to the first `delta.content` chunk (as the `openai` client
  receives them), minus the fake model's own latency = heavy's overhead; and the reasoning
  lines the client saw in one run;
- MCP over HTTP: the progress notifications of one `heavy_ask` call, with their times.

    python bench/clients.py [--latency 0.2] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heavy_engine import Engine
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, JobStore
from heavy_engine.observability import Metrics
from heavy_engine.service import READY, build_app
from heavy_engine.settings import SettingsStore
from heavy_engine.testing import FakeLLM, fake_config

TOKEN = "bench-token-0123456789abcdef"
QUESTION = "Compare the trade-offs of SQLite and PostgreSQL for a small team's chat bot."


async def stream_once(client: openai.AsyncOpenAI, user: str) -> tuple[float, list[str]]:
    """(seconds from "synthesis started" to the first content chunk, the reasoning lines)."""
    reasoning: list[str] = []
    synthesis_at: float | None = None
    stream = await client.chat.completions.create(
        model="heavy-4", user=user, stream=True,
        messages=[{"role": "user", "content": QUESTION}])
    async for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        line = (delta.model_extra or {}).get("reasoning_content")
        if line:
            reasoning.append(line.rstrip("\n"))
            if line.startswith("Writing the answer"):
                synthesis_at = time.monotonic()
        if delta.content and synthesis_at is not None:
            first = time.monotonic() - synthesis_at
            async for _ in stream:  # read the rest, as a chat UI does
                pass
            return first, reasoning
    raise RuntimeError("no content after the synthesis started")


async def mcp_once(url: str) -> list[tuple[float, float, float | None, str | None]]:
    seen: list[tuple[float, float, float | None, str | None]] = []
    started = time.monotonic()

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((time.monotonic() - started, done, total, message))

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (httpx2.AsyncClient(headers=headers, timeout=120) as http,
                Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client):
        started = time.monotonic()
        result = await client.call_tool("heavy_ask", {"question": QUESTION, "agents": 4},
                                        progress_callback=progress)
        assert not result.is_error
    return seen


async def main(latency: float, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeLLM(latency=latency, record=False) as fake:
            config = fake_config(fake.base_url, agents=4, tools=["calculate"],
                                 timeouts={"request": 120})
            db = await Database.open(f"sqlite+aiosqlite:///{tmp}/heavy.db", migrate=True)
            engine = Engine(config)
            runner = DurableRunner(engine, JobStore(db, config),
                                   SettingsStore(db, config).resolve_job, config,
                                   metrics=Metrics())
            await runner.start()
            app = build_app(runner, runner.metrics, api_token=TOKEN)
            app[READY].ready = True
            http = web.AppRunner(app, handle_signals=False, access_log=None)
            await http.setup()
            await web.TCPSite(http, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{http.addresses[0][1]}"
            try:
                await report(url, latency, runs)
            finally:
                await http.cleanup()
                await runner.shutdown(0)
                await engine.aclose()
                await db.close()


async def report(url: str, latency: float, runs: int) -> None:
    firsts: list[float] = []
    lines: list[str] = []
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0) as client:
        for i in range(runs):
            first, seen = await stream_once(client, f"bench-{i}")
            firsts.append(first)
            lines = lines or seen
    overhead = [(f - latency) * 1000 for f in firsts]
    print(f"OpenAI streaming, {runs} runs, fake model latency {latency * 1000:.0f} ms per call:")
    print(f"  first content chunk after 'synthesis started': median "
          f"{statistics.median(firsts) * 1000:.1f} ms, max {max(firsts) * 1000:.1f} ms "
          f"(heavy's own share: median {statistics.median(overhead):.1f} ms, "
          f"max {max(overhead):.1f} ms)")
    print("  reasoning lines the client saw (one run):")
    for line in lines:
        print(f"    {line}")
    seen: list[Any] = await mcp_once(url)
    print("MCP over HTTP, one heavy_ask (4 agents): progress notifications")
    for at, done, total, message in seen:
        print(f"  {at * 1000:7.0f} ms  {done:g}/{total if total is None else f'{total:g}'}  "
              f"{message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.runs))
