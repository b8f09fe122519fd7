"""`heavy mcp` end to end: a real subprocess driven over stdio by the official `mcp` client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from heavy_engine.db import Database, utcnow
from heavy_engine.jobs import Job, JobSpec, JobStore
from heavy_engine.testing import FakeLLM, fake_config, hang_reply

pytestmark = pytest.mark.asyncio(loop_scope="module")
CONFIG = "agents: 2\ntools: [calculate]\ntimeouts: {request: 60}\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with a config.yaml; the database goes in ./data as it would."""
    path = tmp_path_factory.mktemp("mcp-home")
    (path / "config.yaml").write_text(CONFIG)
    return path


def _params(fake: FakeLLM, home: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "heavy_engine.cli", "mcp"], cwd=home,
        env={"HEAVY_LLM_BASE_URL": fake.base_url, "HEAVY_MODEL": "fake/model",
             "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'heavy.db'}"})


@pytest.fixture
def errlog(home: Path) -> Iterator[Path]:
    path = home / "stderr.log"
    path.unlink(missing_ok=True)
    yield path


async def test_heavy_mcp_over_stdio(fake: FakeLLM, home: Path, errlog: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    both_started = asyncio.Event()

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))
        if sum(" started: " in (m or "") for _, _, m in seen) == 2:
            both_started.set()

    with errlog.open("w") as log:
        async with Client(stdio_client(_params(fake, home), errlog=log)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"heavy_ask", "heavy_job"}
            result = await client.call_tool("heavy_ask", {"question": "Why is the sky blue?"},
                                            progress_callback=progress)
            assert not result.is_error and result.structured_content is not None
            assert "Answer" in result.content[0].text  # type: ignore[union-attr]
            assert len(result.structured_content["agents"]) == 2  # config.yaml's agents: 2
            assert [m for _, _, m in seen][-1] == "Writing the answer from 2 agents' findings"
            assert len(seen) == 6 and seen[-1][:2] == (6, 6)
            job = await client.call_tool("heavy_job", {"id": result.structured_content["job"]})
            assert job.structured_content is not None
            assert job.structured_content["status"] == "done"

            # An MCP cancellation stops the job, and heavy_job says so afterwards.
            fake.enqueue(hang_reply(), hang_reply(), when="agent")
            seen.clear()
            both_started.clear()
            call = asyncio.ensure_future(client.call_tool(
                "heavy_ask", {"question": "Never mind"}, progress_callback=progress))
            await asyncio.wait_for(both_started.wait(), 30)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await fake.wait_for(lambda f: f.pending == 0 and not any(
                r.finished is None for r in f.calls("agent")), within=30)
    # The database is the one `heavy ask --scope` and `heavy serve` read.
    assert await asyncio.to_thread((home / "heavy.db").is_file)
    logged = await asyncio.to_thread(errlog.read_text)
    assert "heavy mcp ready on stdio" in logged and "cancelled by its MCP client" in logged


async def test_eof_ends_heavy_mcp_cleanly(fake: FakeLLM, home: Path) -> None:
    params = _params(fake, home)
    process = await asyncio.create_subprocess_exec(
        params.command, *params.args, cwd=home, env={**_base_env(), **(params.env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.close()  # the client closes the pipe without a word
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out == b""  # stdout belongs to the protocol: no log line ever goes there


async def test_heavy_mcp_leaves_a_running_services_jobs_alone(
    fake: FakeLLM, tmp_path: Path
) -> None:
    # A Slack question `heavy serve` is running in this SQLite database: taking it over here
    # would run it with no Slack front end to post the answer.
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    db = await Database.open(url, migrate=True)
    config = fake_config(fake.base_url)
    job = Job(id="slackjob0000001", status="running", config=config, created_at=utcnow(),
              spec=JobSpec(platform="slack", workspace="T1", channel="C1", user="U1",
                           question="Still running?"))
    assert await JobStore(db, config).insert(job)
    await db.close()
    params = _params(fake, tmp_path)
    process = await asyncio.create_subprocess_exec(
        params.command, *params.args, cwd=tmp_path,
        env={**_base_env(), **(params.env or {}), "HEAVY_DATABASE_URL": url},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2 and out == b""
    assert "1 unfinished job(s) of `heavy serve` (slack)" in err.decode()
    async with await Database.open(url) as reopened:
        left = await JobStore(reopened, config).get(job.id)
    assert left is not None and left.status == "running"  # untouched


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
