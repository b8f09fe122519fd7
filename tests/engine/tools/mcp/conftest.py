"""MCP fixtures: the tests' own server (`server.py`, written with the SDK), by stdio and HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER = Path(__file__).with_name("server.py")
HTTP_TOKEN = "docs-token-7f3a9c"  # what the HTTP server demands, as `Bearer ...`
STARTED_WITHIN_S = 60.0  # generous: the machine may be busy, and the SDK is a large import


def time_server(**fields: Any) -> dict[str, Any]:
    """A `mcp_servers` entry for the third-party `mcp-server-time` (from the dev extra)."""
    return {"command": [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"],
            **fields}


def stdio(mode: str = "stdio", **fields: Any) -> dict[str, Any]:
    """A `mcp_servers` entry running the tests' server in `mode` (stdio, exit, hang)."""
    return {"command": [sys.executable, str(SERVER), mode], **fields}


def server_pids(mode: str) -> list[int]:
    """The running processes of the tests' server in `mode` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(SERVER).encode() in argv and mode.encode() in argv:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """The tests' server over streamable HTTP; its URL. It wants `Bearer HTTP_TOKEN`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DOCS_TOKEN": HTTP_TOKEN}
    proc = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTED_WITHIN_S
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the MCP test server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)
