"""MCP over streamable HTTP at `/mcp`, driven by the official `mcp` client SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from heavy_engine.testing import hang_reply
from tests.service.live import Live, job_reaches

pytestmark = pytest.mark.asyncio(loop_scope="session")
Connect = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def connect(live: Live) -> Connect:
    @contextlib.asynccontextmanager
    async def make(token: str | None = live.token,
                   statuses: list[int] | None = None) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        async def record(response: httpx2.Response) -> None:
            if statuses is not None:
                statuses.append(response.status_code)

        # The SDK leaves a client it is handed open: closed here.
        async with (httpx2.AsyncClient(headers=headers, timeout=60,
                                       event_hooks={"response": [record]}) as http,
                    Client(streamable_http_client(f"{live.url}/mcp", http_client=http)) as client):
            yield client
    return make


class Progress:
    """What a client's progress callback saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []
        self.changed = asyncio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        self.changed.set()

    @property
    def messages(self) -> list[str]:
        return [m or "" for _, _, m in self.seen]

    async def until(self, predicate: Callable[[list[str]], bool], within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not predicate(self.messages):
                self.changed.clear()
                await self.changed.wait()


async def test_tools_are_listed_with_their_schemas(connect: Connect) -> None:
    async with connect() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"heavy_ask", "heavy_job"}
    ask = tools["heavy_ask"]
    assert ask.input_schema["required"] == ["question"]
    assert {"question", "agents", "rounds"} == set(ask.input_schema["properties"])
    assert ask.output_schema is not None
    assert {"sources", "agents", "usage"} <= set(ask.output_schema["properties"])


async def test_heavy_ask_refuses_an_agent_count_out_of_range(connect: Connect) -> None:
    async with connect() as client:
        result = await client.call_tool("heavy_ask", {"question": "Too many?", "agents": 99})
    assert result.is_error
    assert "agents must be a whole number from 1 to" in result.content[0].text  # type: ignore[union-attr]


async def test_heavy_ask_reports_progress_and_returns_structured_content(
    connect: Connect, live: Live
) -> None:
    progress = Progress()
    async with connect() as client:
        result = await client.call_tool("heavy_ask", {"question": "Is Rust memory safe?",
                                                      "agents": 2},
                                        progress_callback=progress)
        assert not result.is_error
        answer = result.content[0].text  # type: ignore[union-attr]
        data: dict[str, Any] = result.structured_content or {}
        assert "Answer" in answer and data["status"] == "done"
        assert [a["status"] for a in data["agents"]] == ["ok", "ok"]
        assert data["usage"]["prompt_tokens"] > 0 and data["sources"] == []
        # One notification per phase and per agent started / finished, numbered in order.
        messages = progress.messages
        assert messages[0].startswith("Planned 2 sub-questions")
        assert sum(" started: " in m for m in messages) == 2
        assert sum(" finished (ok, " in m for m in messages) == 2
        assert messages[-1] == "Writing the answer from 2 agents' findings"
        assert [p for p, _, _ in progress.seen] == list(range(1, 7))
        assert {t for _, t, _ in progress.seen[1:]} == {6}
        # heavy_job finds the run again, the same answer.
        looked_up = await client.call_tool("heavy_job", {"id": data["job"]})
        assert looked_up.structured_content is not None
        assert looked_up.structured_content["answer"] == answer
        assert looked_up.content[0].text == answer  # type: ignore[union-attr]
        missing = await client.call_tool("heavy_job", {"id": "no-such-job"})
        assert missing.is_error and "No job" in missing.content[0].text  # type: ignore[union-attr]


async def test_cancelling_the_call_cancels_the_job(connect: Connect, live: Live) -> None:
    live.fake.enqueue(hang_reply(), hang_reply(), when="agent")
    progress = Progress()
    async with connect() as client:
        call = asyncio.ensure_future(client.call_tool(
            "heavy_ask", {"question": "A long one", "agents": 2}, progress_callback=progress))
        await progress.until(lambda ms: sum(" started: " in m for m in ms) == 2)
        call.cancel()  # the SDK tells the server (notifications/cancelled)
        with pytest.raises(asyncio.CancelledError):
            await call
        job_id = await _latest_job(live, "A long one")
        await job_reaches(live.runner, job_id, "cancelled")
        looked_up = await client.call_tool("heavy_job", {"id": job_id})
        assert looked_up.structured_content is not None
        assert looked_up.structured_content["status"] == "cancelled"
    await live.fake.wait_for(lambda f: f.pending == 0)


async def test_mcp_needs_the_api_token(connect: Connect) -> None:
    statuses: list[int] = []
    with pytest.raises(ExceptionGroup):  # the SDK's task groups wrap its MCPError
        async with connect(token="wrong-token", statuses=statuses) as client:
            await client.list_tools()
    assert statuses and set(statuses) == {401}


async def _latest_job(live: Live, question: str) -> str:
    """The id of the newest job asking `question` (the API lists MCP's jobs too)."""
    async with httpx2.AsyncClient(base_url=live.url, headers={
            "Authorization": f"Bearer {live.token}"}) as api:
        jobs: AsyncIterator[Any] | list[dict[str, Any]] = (await api.get("/api/jobs")).json()["jobs"]
    return next(j["id"] for j in jobs if j["question"] == question)
