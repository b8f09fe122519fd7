"""The OpenAI endpoint and MCP on a `web` replica whose jobs a worker replica runs (PostgreSQL):
the progress and the answer come from the events the worker stores, as on a real deployment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from heavy_engine.service import READY, build_app

pytest.importorskip("procrastinate")

from tests.jobs.test_distributed import MakeReplica, pg_db, replica, slow_fake

__all__ = ["pg_db", "replica", "slow_fake"]  # fixtures


@pytest.fixture
async def web_url(replica: MakeReplica) -> AsyncIterator[str]:
    front = await replica(work=False)  # takes questions, runs none
    await replica()  # the worker
    app = build_app(front, front.metrics, api_token=None)
    app[READY].ready = True
    http = web.AppRunner(app, handle_signals=False, access_log=None)
    await http.setup()
    await web.TCPSite(http, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{http.addresses[0][1]}"
    await http.cleanup()


async def test_streamed_progress_and_answer_come_from_the_worker(web_url: str) -> None:
    reasoning, content = [], []
    async with openai.AsyncOpenAI(base_url=f"{web_url}/v1", api_key="local",
                                  max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="heavy", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Which queue for a small team?"}])
        async for chunk in stream:
            if chunk.usage is not None:
                assert chunk.usage.total_tokens > 0
            for choice in chunk.choices:
                extra: dict[str, Any] = choice.delta.model_extra or {}
                reasoning.append(extra.get("reasoning_content") or "")
                content.append(choice.delta.content or "")
    lines = [ln for ln in "".join(reasoning).splitlines() if not ln.startswith("Queued: ")]
    assert lines[0].startswith("Planned 2 sub-questions") and lines[-1].startswith("Writing")
    assert "Answer" in "".join(content)


async def test_mcp_progress_comes_from_the_worker(web_url: str) -> None:
    seen: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async with (httpx2.AsyncClient(timeout=60) as http,
                Client(streamable_http_client(f"{web_url}/mcp", http_client=http)) as client):
        result = await client.call_tool("heavy_ask", {"question": "Which broker?"},
                                        progress_callback=progress)
    assert not result.is_error and result.structured_content is not None
    assert len(seen) == 6 and seen[-1] == "Writing the answer from 2 agents' findings"
