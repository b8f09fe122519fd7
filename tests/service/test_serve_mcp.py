"""`heavy serve` with an MCP server: an API question runs one of its tools, and SIGTERM's drain
stops the server's process with the service."""

from __future__ import annotations

import signal
from pathlib import Path

from heavy_engine.testing import FakeLLM, tool_call_reply

from ..engine.tools.mcp.conftest import server_pids, stdio
from .test_serve import Server, _env, _request, _until_final, servers

__all__ = ["servers"]  # the fixture, used by name


async def test_an_api_question_uses_an_mcp_tool_and_sigterm_stops_the_server(
    tmp_path: Path, servers: list[Server]
) -> None:
    async with FakeLLM() as fake:
        env = _env(tmp_path, HEAVY_LLM_BASE_URL=fake.base_url, HEAVY_MODEL="fake/model",
                   MCP_TOKEN="serve-secret-4711")
        command = stdio(env={"SERVER_TOKEN": "MCP_TOKEN"})["command"]
        (tmp_path / "config.yaml").write_text(
            f"agents: 1\ntools: [mcp__t]\ntimeouts: {{request: 60}}\n"
            f"mcp_servers:\n  t:\n    command: {command!r}\n    env: {{SERVER_TOKEN: MCP_TOKEN}}\n")
        fake.enqueue(tool_call_reply(("mcp__t__token_digest", {})), when="agent")
        server = await Server(tmp_path, env, "--grace", "10").start(within=60)
        servers.append(server)
        status, job = await _request("POST", f"{server.url}/api/ask",
                                     json={"question": "Which process answers?"})
        assert status == 202
        done = await _until_final(server.url, job["id"], within=60)
        assert done["status"] == "done", done
        pid = int(done["answer"].split("The tool returned `pid ")[1].split()[0])
        assert pid in server_pids("stdio") and pid != server.proc.pid  # type: ignore[union-attr]
        _, health = await _request("GET", f"{server.url}/healthz")
        assert health["mcp"]["t"]["state"] == "up"
        server.kill(signal.SIGTERM)
        assert await server.wait(within=30) == 0
    assert pid not in server_pids("stdio")
    leaked = [ln for ln in server.lines if "serve-secret-4711" in ln]
    assert leaked == []  # the secret went to the server only, never to a log line
