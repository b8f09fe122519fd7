"""Hostile bodies and database trouble through a real aiohttp server (issue 10, item 3): 400 JSON
with the reason, 503 JSON with Retry-After, `/healthz` from the last write's outcome, and never a
plain-text 500."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heavy_engine.db import Database
from heavy_engine.runtime import DurableRunner, _health
from heavy_engine.runtime._http import READY, build_app

from .conftest import MakeRunner

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[tuple[Client, DurableRunner]]]


@pytest.fixture
async def make_client(make_runner: MakeRunner) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(**runner_kwargs: Any) -> tuple[Client, DurableRunner]:
        runner = await make_runner(**runner_kwargs)
        app = build_app(runner, runner.metrics, api_token=None)
        app[READY].ready = True
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, runner

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize(("body", "reason"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # 100k-deep nesting
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b'{"question": "hi \\ud800 there"}', "question is not valid Unicode"),  # lone surrogate
    (b'{"question": "hi", "user": "\\udfff"}', "user is not valid Unicode"),
    (b'{"question": "hi", "agents": ' + b"9" * 5000 + b"}", "The body must be JSON"),
    (b'{"question": ["a"]}', "question is required and must be a string"),  # wrong types
    (b'{"question": {"a": 1}}', "question is required and must be a string"),
    (b'{"question": "hi", "agents": 2.5}', "agents must be a whole number"),
    (b'{"question": "hi", "agents": NaN}', "agents must be a whole number"),
    (b'{"question": "hi", "user": 7}', "user must be a non-empty string"),
    (b"null", "must be a JSON object"),
    (b"\xff\xfe{}", "The body must be JSON"),  # not UTF-8
])
async def test_a_malformed_body_is_400_json(
    make_client: MakeClient, body: bytes, reason: str
) -> None:
    client, runner = await make_client()
    resp = await client.post("/api/ask", data=io.BytesIO(body),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/json"
    assert reason in (await resp.json())["error"]
    assert runner.counts() == (0, 0)


async def _set_busy_timeout(db: Database, ms: int) -> None:
    # The pool holds one connection: the pragma set here is the one every write uses.
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")


async def test_a_locked_database_is_503_then_healthz_recovers(
    make_client: MakeClient, db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = await make_client()
    assert (await client.get("/healthz")).status == 200
    await _set_busy_timeout(db, 200)
    other = sqlite3.connect(tmp_path / "heavy.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the timeout
    try:
        with caplog.at_level(logging.WARNING):
            resp = await client.post("/api/ask", json={"question": "Locked out?"})
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"].isdigit()
        assert "database" in (await resp.json())["error"]
        health = await client.get("/healthz")
        assert health.status == 503
        assert "database" in (await health.json())["status"]
        assert "Traceback" not in caplog.text
    finally:
        other.execute("ROLLBACK")
        other.close()
    # no traffic needed to recover: a probe tries one empty write per interval
    assert (await client.get("/healthz")).status == 503  # within the interval: no probe
    monkeypatch.setattr(_health, "PROBE_INTERVAL_S", 0.0)
    assert (await client.get("/healthz")).status == 200
    resp = await client.post("/api/ask", json={"question": "Back?"})
    assert resp.status == 202


async def test_a_full_disk_is_503(make_client: MakeClient, db: Database) -> None:
    client, _ = await make_client()
    async with db.engine.connect() as conn:
        pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
        await conn.exec_driver_sql(f"PRAGMA max_page_count={pages}")
    resp = await client.post("/api/ask", json={"question": "x" * 7000})
    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"].isdigit()
    assert (await client.get("/healthz")).status == 503


async def test_an_unexpected_error_is_500_json_with_a_reference(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runner = await make_client()

    async def broken(job_id: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "get_job", broken)
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/api/jobs/abc")
    assert resp.status == 500
    body = await resp.json()
    assert body["reference"] and body["reference"] in body["error"]
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and body["reference"] in logged[0].getMessage()


async def test_sse_of_an_answer_with_a_lone_surrogate_still_ends(
    make_client: MakeClient, fake: Any
) -> None:
    fake.enqueue("Answer with a broken character \ud800 inside.", when="synthesis")
    client, _ = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Break it"})).json()
    async with asyncio.timeout(10):
        resp = await client.get(f"/api/jobs/{created['id']}",
                                headers={"Accept": "text/event-stream"})
        text = await resp.text()
    events = [line.removeprefix("event: ") for line in text.splitlines()
              if line.startswith("event: ")]
    assert events[-1] == "status"
    final = json.loads([ln for ln in text.splitlines() if ln.startswith("data: ")][-1][6:])
    assert final["status"] in ("done", "failed")
    job = await (await client.get(f"/api/jobs/{created['id']}")).json()
    assert job["status"] == final["status"]
