"""Real processes on a real (throwaway) PostgreSQL: a `--role web` replica and two workers, one
killed with -9 mid-run; every question is answered once, and followed over SSE from the web
replica. Each child is killed in the `servers` fixture; waits are bounded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from heavy_engine.cli import main
from heavy_engine.testing import FakeLLM, held_reply

from .test_serve import REPO, START_WITHIN, Server, _request, _until_final, servers  # noqa: F401

pytest.importorskip("procrastinate")
# A request may wait for a replica's start-up (a minute on a loaded machine) before it ends.
CONFIG = "agents: 2\ntimeouts: {request: 120}\n"


def _env(tmp: Path, url: str, fake: FakeLLM) -> dict[str, str]:
    (tmp / "config.yaml").write_text(CONFIG)
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
            "HEAVY_DATABASE_URL": url, "HEAVY_LOG_FORMAT": "json",
            "HEAVY_LLM_BASE_URL": fake.base_url, "HEAVY_MODEL": "fake/model",
            "HEAVY_WORKER_HEARTBEAT": "0.5", "HEAVY_WORKER_STALLED_AFTER": "3"}


async def _ask(url: str, questions: int) -> list[str]:
    """Ask `questions` questions (one asker each) through the API; their job ids."""
    ids = []
    for i in range(questions):
        status, job = await _request("POST", f"{url}/api/ask",
                                     json={"question": f"Question {i}?", "user": f"u{i}"})
        assert status == 202
        ids.append(job["id"])
    return ids


async def _sse(url: str, last_id: int | None = None) -> list[tuple[str | None, str, Any]]:
    """(id, event, data) of a whole SSE response."""
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    items: list[tuple[str | None, str, Any]] = []
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
        text = (await resp.text()).strip()
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if not line.startswith(":"))
        if "event" in fields:
            items.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return items


async def test_kill_9_of_a_worker_loses_nothing_and_answers_once(
        tmp_path: Path, pg_url: str, servers: list[Server]) -> None:  # noqa: F811
    assert await asyncio.to_thread(main, ["db", "upgrade", "--database-url", pg_url]) == 0
    async with FakeLLM(latency=0.3) as fake:
        # Agents' answers wait until the worker is dead: killed mid-run however slow the
        # machine (each answers at once afterwards; more than enough are queued).
        agents = asyncio.Event()
        fake.enqueue(*[held_reply(agents)] * 20, when="agent")
        env = _env(tmp_path, pg_url, fake)
        web = Server(tmp_path, env, "--role", "web")
        doomed = Server(tmp_path, env, "--role", "worker")
        servers.extend([web, doomed])
        await asyncio.gather(web.start(), doomed.start())  # start-up is mostly imports
        jobs = await _ask(web.url, 4)
        # Every job started on the doomed worker (a decomposition each), agents at work.
        await fake.wait_for(lambda f: len(f.calls("decompose")) == len(jobs)
                            and len(f.calls("agent")) >= 2, within=START_WITHIN)
        doomed.kill(signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL
        assert fake.calls("synthesis") == []  # killed mid-run, before any answer
        agents.set()
        survivor = await Server(tmp_path, env, "--role", "worker").start()
        servers.append(survivor)
        finals = [await _until_final(web.url, job_id, within=90) for job_id in jobs]
        followed = await _sse(f"{web.url}/api/jobs/{jobs[0]}")
        resumed = await _sse(f"{web.url}/api/jobs/{jobs[0]}", last_id=2)
        survivor.kill(signal.SIGTERM)
        web.kill(signal.SIGTERM)
        assert await survivor.wait() == 0
        assert await web.wait() == 0

    assert all(job["status"] == "done" and job["answer"] for job in finals)
    assert all(job["attempts"] == 2 for job in finals)  # each resumed once on the survivor
    assert len(fake.calls("synthesis")) == len(jobs)  # each answered exactly once
    with psycopg.connect(pg_url) as conn:
        done_events = conn.execute(
            "SELECT job_id, count(*) FROM job_events WHERE type = 'done' GROUP BY job_id"
        ).fetchall()
    assert sorted(done_events) == sorted((j, 1) for j in jobs)
    ids = [int(i) for i, _, _ in followed if i is not None]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 3
    assert followed[-1][1] == "status" and followed[-1][2]["status"] == "done"
    assert [int(i) for i, _, _ in resumed if i is not None] == ids[2:]


async def test_a_draining_replica_is_not_ready_and_a_rolling_restart_loses_nothing(
        tmp_path: Path, pg_url: str, servers: list[Server]) -> None:  # noqa: F811
    assert await asyncio.to_thread(main, ["db", "upgrade", "--database-url", pg_url]) == 0
    async with FakeLLM(latency=0.8) as fake:
        # The old pod's answers are held until the test has looked at its drain: they were
        # 4 s late, and on a loaded machine the next pod took longer than that to start, so
        # the old one had finished everything, exited at SIGTERM at once, and the looks met
        # "connection refused". Its drain still outlasts HEAVY_WORKER_STALLED_AFTER (3 s):
        # its jobs must not be taken as stalled meanwhile.
        answers = asyncio.Event()
        fake.enqueue(*[held_reply(answers)] * 3, when="synthesis")
        env = _env(tmp_path, pg_url, fake)
        old = await Server(tmp_path, env, "--grace", "90").start()
        servers.append(old)
        jobs = await _ask(old.url, 3)
        # The old pod is running work before the next one starts (a pod with nothing running
        # would drain and exit at once, and there would be no draining state to look at).
        await fake.wait_for(lambda f: len(f.calls("agent")) >= 1, within=START_WITHIN)
        new = await Server(tmp_path, env).start()  # the rolling update's next pod
        servers.append(new)
        assert (await _request("GET", f"{old.url}/healthz"))[0] == 200
        old.kill(signal.SIGTERM)
        await asyncio.sleep(0.3)
        health = await _request("GET", f"{old.url}/healthz")
        refused = await _request("POST", f"{old.url}/api/ask", json={"question": "Too late?"})
        status, job = await _request("POST", f"{new.url}/api/ask",
                                     json={"question": "Question 3?", "user": "u3"})
        assert status == 202
        jobs.append(job["id"])
        await asyncio.sleep(4)  # past HEAVY_WORKER_STALLED_AFTER, still draining
        answers.set()
        assert await old.wait(within=90) == 0
        finals = [await _until_final(new.url, job_id, within=90) for job_id in jobs]
        new.kill(signal.SIGTERM)
        assert await new.wait() == 0

    assert health[0] == 503  # a draining replica leaves the load balancer
    assert refused[0] == 503 and refused[1]["reason"] == "shutting_down"
    assert all(job["status"] == "done" and job["answer"] for job in finals)
    assert len(fake.calls("synthesis")) == len(jobs)  # no answer lost, none twice
    assert all(job["attempts"] == 1 for job in finals)  # the old pod finished what it ran
