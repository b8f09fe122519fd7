"""Hostile bodies and database trouble through a real aiohttp server (issue 10, item 3): 400 JSON
with the reason, 503 JSON with Retry-After, `/healthz` from the last write's outcome, and never a
plain-text 500."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from heavy_engine.db import Database
from heavy_engine.jobs import _finish
from heavy_engine.service import _health
from tests.jobs.conftest import Client, MakeClient, MakeRunner, spec


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only here: the faults are injected the SQLite way (a second connection's lock,
    `max_page_count`); the API's answers do not depend on the backend."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}", migrate=True)
    yield database
    await database.close()


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


async def _sse_statuses(client: Client, job_id: str) -> list[str]:
    async with asyncio.timeout(15):
        resp = await client.get(f"/api/jobs/{job_id}", headers={"Accept": "text/event-stream"})
        text = await resp.text()
    lines = text.splitlines()
    return [json.loads(lines[i + 1][6:])["status"] for i, line in enumerate(lines)
            if line == "event: status"]


async def test_an_answer_with_a_lone_surrogate_is_stored_replaced(
    make_client: MakeClient, fake: Any, db: Database
) -> None:
    fake.enqueue("Broken \ud800 character.", when="synthesis")
    client, _ = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Break it"})).json()
    assert (await _sse_statuses(client, created["id"]))[-1] == "done"
    job = await (await client.get(f"/api/jobs/{created['id']}")).json()
    assert job["status"] == "done" and "Broken \ufffd character." in job["answer"]


@pytest.mark.parametrize("failures", [
    2,  # a brief hiccup: the retry saves the answer
    3,  # the result never saves: the job is failed, with a reference
    1000,  # nothing saves any more: the job still ends (failed), in this process's memory
])
async def test_a_job_whose_end_cannot_be_saved_still_ends(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    client, runner = await make_client()
    real_save = runner.store.save
    left = [failures]

    async def flaky_save(job: Any) -> None:
        ending = job.result is not None or job.status != "running"
        if ending and left[0] > 0:  # the saves at the end of the job
            left[0] -= 1
            raise OperationalError("UPDATE jobs", {}, sqlite3.OperationalError(
                "database or disk is full"))
        await real_save(job)

    monkeypatch.setattr(runner.store, "save", flaky_save)
    monkeypatch.setattr(_finish, "RETRY_DELAY_S", 0.01)
    created = await (await client.post("/api/ask", json={"question": "Save me"})).json()
    statuses = await _sse_statuses(client, created["id"])
    job = await (await client.get(f"/api/jobs/{created['id']}")).json()
    assert statuses[-1] == job["status"]
    if failures == 2:
        assert job["status"] == "done" and job["answer"]
    else:
        assert job["status"] == "failed"
        assert "(reference " in job["error"]  # the same reference is in the log
    stored = await runner.store.get(created["id"])
    assert stored is not None
    assert stored.status == ("running" if failures == 1000 else job["status"])


async def test_a_chat_question_with_a_lone_surrogate_is_stored_replaced(
    make_runner: MakeRunner,
) -> None:
    # Slack and Discord deliver JSON too: "\ud800" reaches the runner as a lone surrogate.
    runner = await make_runner()
    job = await runner.submit(spec(question="Why \ud800 so?"))
    assert job is not None
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.spec.question == "Why \ufffd so?"


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": ["ok", {"b": 1}]}, {"a": ["ok", {"b": 1}]}),  # the common case: kept as it is
    ({"a": ["x\ud800", 2]}, {"a": ["x\ufffd", 2]}),  # deep in a list
    ({"k\udc00": "v"}, {"k\ufffd": "v"}),  # in a key
    ({"n": 2**70, "s": "\ud800"}, {"n": 2**70, "s": "\ufffd"}),  # beside what orjson refuses
    (("x", "\ud83d\ude00"), ("x", "\U0001f600")),  # a valid pair is joined, not replaced
    ("lone \ud800", "lone \ufffd"),
    (None, None),
])
def test_storable_replaces_only_lone_surrogates(value: Any, expected: Any) -> None:
    got = _finish.storable(value)
    assert got == expected or list(got) == list(expected)
    if value == expected and isinstance(value, dict):
        assert got is value  # nothing to fix: no copy made


async def test_an_sse_stream_that_breaks_ends_with_an_error_event(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, runner = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Stream it"})).json()
    real_get = runner.get_job
    calls = [0]

    async def failing_later(job_id: str) -> Any:
        calls[0] += 1
        if calls[0] > 1:  # the stream has started: its headers are gone
            raise OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))
        return await real_get(job_id)

    monkeypatch.setattr(runner, "get_job", failing_later)
    async with asyncio.timeout(10):
        resp = await client.get(f"/api/jobs/{created['id']}",
                                headers={"Accept": "text/event-stream"})
        text = await resp.text()
    assert resp.status == 200
    lines = text.splitlines()
    assert "event: error" in lines
    error = json.loads(lines[lines.index("event: error") + 1][6:])
    assert error["reference"] in error["error"]
