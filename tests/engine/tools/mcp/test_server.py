"""MCP servers through the pool: one shared process per server, restarted when it dies, every
call under the built-in tools' rules, and servers that exit, hang or lack a secret survived."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable

import pytest

from heavy_engine import ToolSettings, validate_config
from heavy_engine.tools import ToolContext, ToolResult, execute_tool
from heavy_engine.tools.mcp import McpPool, McpSelection

from .conftest import HTTP_TOKEN, server_pids, stdio

SECRET = "tok-123-secret-value"
TOOLS = ["add", "big", "crash", "echo", "fail", "link", "picture", "search_tickets", "slow",
         "token_digest"]


def pool_for(servers: dict[str, dict[str, object]], env: dict[str, str] | None = None) -> McpPool:
    return McpPool(validate_config({"mcp_servers": servers}).mcp_servers, env or {})


async def until(check: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


class Caller:
    """Runs a selection's tools as the agent loop does (`execute_tool`, its own timeout)."""

    def __init__(self, selection: McpSelection, names: list[str]) -> None:
        self.tools = {t.name: t for t in selection.tools_for(names)}
        self.ctx = ToolContext("r1", settings=ToolSettings(max_output_chars=1000))

    async def __call__(self, name: str, **args: object) -> ToolResult:
        tool = self.tools.get(name)
        timeout = tool.call_timeout if tool is not None and tool.call_timeout else 30.0
        return await execute_tool(tool, name, json.dumps(args), self.ctx, timeout)


async def test_one_stdio_process_serves_every_call_under_the_tool_rules(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pool = pool_for({"t": stdio(env={"SERVER_TOKEN": "T_TOKEN"}, timeout=30),
                     "quick": stdio(timeout=1.5)}, {"T_TOKEN": SECRET})
    try:
        selection = await pool.select(["mcp__t", "mcp__quick__slow"])
        call = Caller(selection, ["mcp__t", "mcp__quick__slow"])
        assert call.tools.pop("mcp__quick__slow").call_timeout == 1.5
        assert sorted(call.tools) == [f"mcp__t__{n}" for n in TOOLS]
        spec = call.tools["mcp__t__search_tickets"].spec()["function"]
        assert spec["description"].startswith("Search tickets")
        assert spec["parameters"]["properties"]["window"]["properties"]["start"] == {
            "description": "ISO date", "type": "string"}  # the $ref was inlined

        assert (await call("mcp__t__echo", text="hi")).text == "echo: hi"
        # the server got our variable under its own name; the value never reaches a log
        digest = (await call("mcp__t__token_digest")).text
        assert hashlib.sha256(SECRET.encode()).hexdigest()[:12] in digest
        pid = int(digest.split()[1])
        # an error result and bad arguments are results the model can read, not crashes
        failed = await call("mcp__t__fail")
        assert (failed.ok, failed.text) == (
            False, "error: Error executing tool fail: the ticket system said no")
        wrong = await call("mcp__t__add", a="x", b=1)
        assert not wrong.ok and wrong.text.startswith("error: ") and "a" in wrong.text
        # 5 MB comes back cut to the result cap, with the note
        big = await call("mcp__t__big", megabytes=5)
        assert big.ok and big.text.endswith("\n[truncated: 4999000 more characters]")
        # a call that hangs ends at its server's own `timeout`; the session survives it
        call.tools["mcp__quick__slow"] = selection.tools_for(["mcp__quick__slow"])[0]
        hung = await call("mcp__quick__slow", seconds=3600)
        assert (hung.ok, hung.text) == (False, "error: mcp__quick__slow timed out after 1.5 s")
        # a call cancelled by a stopped run leaves the session usable too
        task = asyncio.create_task(call("mcp__t__slow", seconds=3600))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        linked = await call("mcp__t__link", url="https://docs.example/design")
        assert linked.text == "found one page\n[link] Design doc: https://docs.example/design"
        assert linked.extra is not None and [s.url for s in linked.extra.found] == [
            "https://docs.example/design"]
        # another run shares the same process
        again = Caller(await pool.select(["mcp__t__token_digest"]), ["mcp__t__token_digest"])
        assert list(again.tools) == ["mcp__t__token_digest"]
        assert f"pid {pid} " in (await again("mcp__t__token_digest")).text

        # the process dies mid-call: that call fails, the server is started again (back-off)
        crashed = await call("mcp__t__crash")
        assert (crashed.ok, crashed.text) == (False, "error: MCP server 't' closed the "
                                              "connection during the call; it will be restarted")
        await until(lambda: pool.servers["t"].state == "up")
        revived = Caller(await pool.select(["mcp__t"]), ["mcp__t"])
        new_pid = int((await revived("mcp__t__token_digest")).text.split()[1])
        assert new_pid != pid and pool.servers["t"].restarts == 1
        assert server_pids("stdio").count(new_pid) == 1
        # a process that dies between calls is noticed without one (its stream ends)
        os.kill(new_pid, signal.SIGKILL)
        await until(lambda: pool.servers["t"].restarts == 2 and pool.servers["t"].state == "up")
        last = Caller(await pool.select(["mcp__t"]), ["mcp__t"])
        new_pid = int((await last("mcp__t__token_digest")).text.split()[1])
    finally:
        await pool.aclose()
    assert new_pid not in server_pids("stdio")  # stopped with the pool
    assert {s.state for s in pool.status()} == {"stopped"}
    assert SECRET not in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
                and r.name == "heavy.mcp"]
    assert len(warnings) == 2  # once per outage (then its last stderr line, if any)
    assert all(w.startswith("MCP server t went down: the server exited or closed the "
                            "connection") for w in warnings)


async def test_servers_that_exit_hang_or_lack_a_secret_are_survived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = pool_for({
        "gone": stdio("exit"),
        "hang": stdio("hang", start_timeout=2),
        "nocmd": {"command": ["no-such-mcp-server", "--x"]},
        "nokey": stdio(env={"SERVER_TOKEN": "UNSET_TOKEN_VAR"}),
        "ok": stdio(),
    })
    names = ["mcp__gone", "mcp__hang", "mcp__nocmd", "mcp__nokey", "mcp__ok__echo"]
    try:
        started = time.monotonic()
        selection = await pool.select(names)
        waited = time.monotonic() - started
        assert waited >= 2  # the hanging server had its start_timeout, and no more:
        assert waited < 30  # (generous: the good server's start shares the busy machine)
        assert [t.name for t in selection.tools_for(names)] == ["mcp__ok__echo"]
        reasons = {k: v.split(";")[0] for k, v in selection.down.items()}
        assert reasons == {
            "gone": "the server exited or closed the connection",
            "hang": "did not answer within 2 s",
            "nocmd": "command not found: 'no-such-mcp-server'",
            "nokey": "UNSET_TOKEN_VAR is not set (needed for SERVER_TOKEN)",
        }
        notes = selection.notes_for(names)
        assert len(notes) == 4 and notes[0].startswith(
            "The tools of MCP server 'gone' are unavailable for this run (the server exited")
        gone = next(s for s in pool.status() if s.name == "gone")
        assert gone.detail == "tickets-mcp: cannot reach the ticket database"  # its stderr
        assert "detail" not in gone.as_dict()  # /healthz gives the reason only
        # a second run does not wait for servers in their back-off
        started = time.monotonic()
        await pool.select(names)
        assert time.monotonic() - started < 1.5
    finally:
        await pool.aclose()
    assert server_pids("hang") == [] and server_pids("exit") == []
    for name in ("gone", "hang", "nocmd", "nokey"):  # one warning each, retries are quiet
        said = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.getMessage().startswith(f"MCP server {name} ")]
        assert len(said) == 1, (name, [r.getMessage() for r in said])


async def test_an_http_server_session_is_reused_with_headers_from_the_env(
    http_server: str, caplog: pytest.LogCaptureFixture,
) -> None:
    servers = {"docs": {"url": http_server, "headers_env": {"Authorization": "DOCS_AUTH"}},
               "docs_bad": {"url": http_server, "headers_env": {"Authorization": "BAD_AUTH"}}}
    pool = pool_for(servers, {"DOCS_AUTH": f"Bearer {HTTP_TOKEN}", "BAD_AUTH": "Bearer nope"})
    try:
        selection = await pool.select(["mcp__docs", "mcp__docs_bad"])
        assert selection.down["docs_bad"].startswith("HTTP 401 from the server")
        call = Caller(selection, ["mcp__docs"])
        assert (await call("mcp__docs__echo", text="over http")).text == "echo: over http"
        big = await call("mcp__docs__big", megabytes=5)
        assert big.ok and big.text.endswith("[truncated: 4999000 more characters]")
        call = Caller(await pool.select(["mcp__docs"]), ["mcp__docs"])
        assert (await call("mcp__docs__add", a=2, b=3)).text == "5"
        assert pool.servers["docs"].generation == 1  # one session for all of it
    finally:
        await pool.aclose()
    assert HTTP_TOKEN not in caplog.text
