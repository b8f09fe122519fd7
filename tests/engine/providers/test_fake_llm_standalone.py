"""The fake LLM's own process (`python -m heavy_engine.testing.fake_llm`), the benchmarks' server:
a real engine gets a whole answer through it, and its HTTP/1.1 framing holds on raw sockets."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from heavy_engine import Done, Engine, HeavyRequest, SynthesisDelta
from heavy_engine.testing import fake_config
from heavy_engine.testing._standalone import bound_port, serve


@pytest.fixture
async def base() -> AsyncIterator[str]:
    server = await serve("127.0.0.1", 0, latency=0.01)
    async with server:
        yield f"http://127.0.0.1:{bound_port(server)}"


async def _exchange(base: str, raw: bytes, answers: int = 1) -> list[tuple[int, bytes]]:
    """Send `raw` on one connection; read `answers` responses (status, body) in order."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw)
    await writer.drain()
    out = []
    try:
        for _ in range(answers):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status = int(head.split(b" ", 2)[1])
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            out.append((status, await reader.readexactly(length)))
    finally:
        writer.close()
    return out


def _post(body: bytes, path: str = "/v1/chat/completions", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def test_an_engine_gets_a_whole_answer_streamed_and_not(base: str, tmp_path: Path) -> None:
    config = fake_config(f"{base}/v1", agents=2, tools=["calculate"])
    async with Engine(config, scratch_root=tmp_path) as engine:
        run = engine.start(HeavyRequest("Which database for a small team?", config))
        events = [event async for event in run.stream()]
        result = await run.wait()
    assert result.status == "ok", result.error
    assert "Which database for a small team?" in result.answer
    assert result.llm_calls == 6  # decompose, 2 x (tool call, answer), synthesis
    assert any(isinstance(e, SynthesisDelta) for e in events)  # the synthesis was streamed
    assert isinstance(events[-1], Done)


async def test_pipelined_requests_are_answered_in_order_on_one_connection(base: str) -> None:
    first = json.dumps({"model": "a", "messages": [{"role": "user", "content": "one"}]}).encode()
    second = json.dumps({"model": "b", "messages": [{"role": "user", "content": "two"}]}).encode()
    # the second arrives in the same packet as the first, split mid-way through its head
    answers = await _exchange(base, _post(first) + _post(second), answers=2)
    assert [status for status, _ in answers] == [200, 200]
    assert [json.loads(body)["model"] for _, body in answers] == ["a", "b"]


@pytest.mark.parametrize(("raw", "status", "says"), [
    (_post(b"[1, 2]"), 400, "not a JSON object"),
    (_post(b"{not json"), 400, "not a JSON object"),
    (_post(b"{}", path="/v1/embeddings"), 404, "no such endpoint"),
    (b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     411, "Content-Length"),
    (b"hello there\r\n\r\n", 400, "request line"),
])
async def test_what_it_cannot_answer_gets_a_clear_error(
        base: str, raw: bytes, status: int, says: str) -> None:
    [(got, body)] = await _exchange(base, raw)
    assert got == status
    assert says in json.loads(body)["error"]["message"]


async def test_models_and_the_process_entry_point(base: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        models = (await client.get(f"{base}/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["fake/model", "fake/orchestrator"]
    # `python -m heavy_engine.testing.fake_llm` serves the same, and says where
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "heavy_engine.testing.fake_llm", "--port", "0", "--latency", "0",
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()  # start-up
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{url}/chat/completions", json={
                "model": "fake/model", "messages": [{"role": "user", "content": "Question: hi"}]})
        assert r.status_code == 200
        assert "fake agent answer" in r.json()["choices"][0]["message"]["content"]
    finally:
        proc.terminate()
        await proc.wait()
