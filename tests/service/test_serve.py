"""`heavy serve` as a real subprocess: kill -9 recovery, SIGTERM drain, the keyless default.

Every child is killed in a `finally`; waits are bounded so a hang fails, and generous (60 s
for anything that includes a process's start-up) so a loaded machine does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from heavy_engine.cli import main
from heavy_engine.db import Database, create_engine
from heavy_engine.jobs import JobStore
from heavy_engine.plugins import group
from heavy_engine.testing import FakeLLM, hang_reply, held_reply
from tests.plugin_dist import install_dist

REPO = Path(__file__).resolve().parents[2]
CONFIG = "agents: 2\ntools: [calculate]\ntimeouts: {request: 30}\n"
START_WITHIN = 60.0  # a child's start-up is mostly imports: seconds on a machine under load


class Server:
    """One `heavy serve` child on a free port, its log lines collected as they come."""

    def __init__(self, tmp: Path, env: dict[str, str], *args: str) -> None:
        self.tmp, self.env, self.args = tmp, env, args
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.url = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self, within: float = START_WITHIN) -> Server:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from heavy_engine.cli import main; "
            "sys.exit(main())", "serve", "--host", "127.0.0.1", "--port", "0", *self.args,
            cwd=self.tmp, env=self.env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        ready = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read(ready))
        try:
            await asyncio.wait_for(ready.wait(), within)
        except TimeoutError:
            self.kill()
            raise AssertionError("heavy serve did not start:\n" + "\n".join(self.lines)) from None
        return self

    async def _read(self, ready: asyncio.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if "heavy serving on http://" in line:
                msg = json.loads(line)["msg"] if line.startswith("{") else line
                self.url = msg.split("heavy serving on ", 1)[1].split(" ", 1)[0]
                ready.set()
        ready.set()  # the child exited: stop waiting

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def wait(self, within: float = 60) -> int:
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        finally:
            self.kill()
            if self._reader is not None:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(self._reader, 2)
        return code

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in self.lines if ln.startswith("{")]


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()
        if server.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.proc.wait(), 5)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    (tmp / "config.yaml").write_text(CONFIG)
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
            "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
            "HEAVY_LOG_FORMAT": "json", "HEAVY_SIMULATED_PACE": "0", **extra}


async def _request(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


async def _until_final(
    url: str, job_id: str, within: float = 15, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            status, job = await _request("GET", f"{url}/api/jobs/{job_id}", headers=headers)
            assert status == 200
            if job["status"] in ("done", "failed", "cancelled"):
                return dict(job)
            await asyncio.sleep(0.05)


async def test_a_job_survives_kill_9_and_finishes_once_after_restart(
    tmp_path: Path, servers: list[Server]
) -> None:
    rec_log = tmp_path / "posted.log"
    async with FakeLLM(latency=0.15) as fake:
        # The recording adapter is installed as a plugin distribution, as an operator would.
        site = install_dist(tmp_path / "site", "heavy-rec", f"""
            [{group("adapters")}]
            rec = tests.jobs.recording_adapter:create_adapter
        """)
        env = _env(tmp_path, HEAVY_LLM_BASE_URL=fake.base_url, HEAVY_MODEL="fake/model",
                   REC_LOG=str(rec_log), PYTHONPATH=f"{REPO}{os.pathsep}{site}")
        first = await Server(tmp_path, env).start()
        servers.append(first)
        _, api_job = await _request("POST", f"{first.url}/api/ask",
                                    json={"question": "Will this survive?"})
        _, chat_job = await _request("POST", f"{first.url}/rec/ask",
                                     json={"question": "And this?", "event_id": "Ev1"})
        await fake.wait_for(lambda f: len(f.calls("agent")) >= 2, within=START_WITHIN)
        first.kill(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        assert fake.calls("synthesis") == []  # killed mid-run, before any answer

        second = await Server(tmp_path, env).start()
        servers.append(second)
        api_done = await _until_final(second.url, api_job["id"])
        chat_done = await _until_final(second.url, chat_job["id"])
        # The platform retries the event after the restart: no second job.
        _, retry = await _request("POST", f"{second.url}/rec/ask",
                                  json={"question": "And this?", "event_id": "Ev1"})
        second.kill(signal.SIGTERM)
        assert await second.wait() == 0

    for job in (api_done, chat_done):
        assert job["status"] == "done" and job["attempts"] == 2 and job["answer"]
    assert retry == {"id": None}
    assert len(fake.calls("synthesis")) == 2  # one per job: each finished exactly once
    assert rec_log.read_text().splitlines() == [f"posted {chat_job['id']}", "stopped"]
    resumed = [r for r in second.logs() if "resuming it" in r["msg"]]
    assert {r["msg"].split()[1] for r in resumed} == {api_job["id"], chat_job["id"]}


async def test_sigterm_drains_running_jobs_and_refuses_new_ones(
    tmp_path: Path, servers: list[Server]
) -> None:
    async with FakeLLM(latency=0.1) as fake:
        # The answer is held until the drain has been looked at: a job that finished first
        # would let the server exit at once, and the looks would meet a closed port.
        answer = asyncio.Event()
        fake.enqueue(held_reply(answer), when="synthesis")
        env = _env(tmp_path, HEAVY_LLM_BASE_URL=fake.base_url, HEAVY_MODEL="fake/model")
        server = await Server(tmp_path, env, "--grace", "60").start()
        servers.append(server)
        _, job = await _request("POST", f"{server.url}/api/ask", json={"question": "Drain me"})
        await fake.wait_for(lambda f: len(f.calls("agent")) >= 1, within=START_WITHIN)
        server.kill(signal.SIGTERM)
        await asyncio.sleep(0.2)
        status, refused = await _request("POST", f"{server.url}/api/ask",
                                         json={"question": "Too late"})
        health = await _request("GET", f"{server.url}/healthz")
        answer.set()
        assert await server.wait() == 0
    assert status == 503 and refused["reason"] == "shutting_down"
    assert health[0] == 503
    stored = await _stored(tmp_path, job["id"])
    assert stored["status"] == "done" and stored["answer"]


@pytest.mark.parametrize(("grace", "signals"), [
    ("0.2", 1),  # the grace runs out
    ("30", 2),  # a second signal (Ctrl-C twice) does not wait for it
])
async def test_jobs_that_outlast_the_grace_are_interrupted(
    tmp_path: Path, servers: list[Server], grace: str, signals: int
) -> None:
    async with FakeLLM() as fake:
        fake.enqueue(hang_reply(), when="decompose")
        env = _env(tmp_path, HEAVY_LLM_BASE_URL=fake.base_url, HEAVY_MODEL="fake/model")
        server = await Server(tmp_path, env, "--grace", grace).start()
        servers.append(server)
        _, job = await _request("POST", f"{server.url}/api/ask", json={"question": "Stuck"})
        await fake.wait_for(lambda f: len(f.calls("decompose")) == 1, within=START_WITHIN)
        for _ in range(signals):
            server.kill(signal.SIGTERM)
            await asyncio.sleep(0.2)
        assert await server.wait(within=15) == 0  # well before the 30 s grace
    stored = await _stored(tmp_path, job["id"])
    assert stored["status"] == "interrupted"
    logs = server.logs()
    assert any(r["msg"] == f"job {job['id']} interrupted by shutdown"
               and r.get("job_id") == job["id"] for r in logs)


async def test_with_no_keys_at_all_it_serves_the_simulated_model(
    tmp_path: Path, servers: list[Server]
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
           "HEAVY_API_TOKEN": "tok-" + "x" * 20, "HEAVY_SIMULATED_PACE": "0"}
    server = await Server(tmp_path, env).start()
    servers.append(server)
    headers = {"Authorization": f"Bearer {env['HEAVY_API_TOKEN']}"}
    status, job = await _request("POST", f"{server.url}/api/ask", headers=headers,
                                 json={"question": "Hello?", "agents": 2})
    assert status == 202
    done = await _until_final(server.url, job["id"], headers=headers)
    server.kill(signal.SIGTERM)
    assert await server.wait() == 0
    assert done["simulated"] is True and "[simulated]" in done["answer"]
    assert (tmp_path / "data" / "heavy.db").exists()  # the embedded default database
    text = "\n".join(server.lines)
    assert "serving with the offline simulated model" in text
    assert env["HEAVY_API_TOKEN"] not in text


def test_chat_credentials_without_a_model_key_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "discord-token-value")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "OPENROUTER_API_KEY is not set" in err and "DISCORD_TOKEN is set" in err
    assert "discord-token-value" not in err


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--port", "70000"], {}, "port 70000 is out of range"),  # not a port
    ([], {"PORT": "abc"}, "PORT and HEAVY_SHUTDOWN_GRACE must be numbers"),  # junk in $PORT
    (["--grace", "-1"], {}, "grace period must be a finite number of seconds >= 0"),
    ([], {"HEAVY_SHUTDOWN_GRACE": "nan"}, "got nan"),  # would never end the drain
    ([], {"HEAVY_SHUTDOWN_GRACE": "inf"}, "got inf"),  # likewise
])
def test_bad_options_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], env: dict[str, str], message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


async def _stored(tmp: Path, job_id: str) -> dict[str, Any]:
    from heavy_engine import HeavyConfig
    from heavy_engine.jobs import job_view

    async with await Database.open(f"sqlite+aiosqlite:///{tmp / 'jobs.db'}") as db:
        job = await JobStore(db, HeavyConfig()).get(job_id)
    assert job is not None
    return job_view(job)


async def test_serve_refuses_a_database_that_is_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL is migrated by the operator (`heavy db upgrade`); forgetting it used to start
    # the service and fail on the first query with a traceback, in a restart loop (exit 1).
    from heavy_engine import ConfigError, HeavyConfig
    from heavy_engine.cli import _serve

    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    opened: list[Database] = []

    async def open_like_postgres(*_: Any, **__: Any) -> Database:
        opened.append(await Database(create_engine(url)).__aenter__())
        return opened[-1]

    monkeypatch.setattr(_serve.Database, "open", open_like_postgres)
    with pytest.raises(ConfigError, match=r"revision none, not \w+: run `heavy db upgrade`"):
        await _serve.serve(HeavyConfig(), host="127.0.0.1", port=0, grace=0, env={})
    assert len(opened) == 1
