"""`heavy serve` as a newcomer meets it: loopback by default, one line per problem, one line for
the database, and the address of the web page."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path

import aiohttp

from heavy_engine.cli._serve import _options, page_address

from .test_serve import Server, _env, servers  # noqa: F401  (the fixture)


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"host": None, "port": None, "grace": None, **given})


def test_it_binds_loopback_unless_told_otherwise() -> None:
    assert _options(_args(), {})[0] == "127.0.0.1"
    assert _options(_args(), {"HEAVY_HOST": "0.0.0.0"})[0] == "0.0.0.0"  # Docker, Kubernetes
    assert _options(_args(host="::1"), {"HEAVY_HOST": "0.0.0.0"})[0] == "::1"


def test_the_page_address_is_one_a_browser_can_open() -> None:
    assert page_address("0.0.0.0", [("0.0.0.0", 3000)]) == "http://localhost:3000"
    assert page_address("127.0.0.1", [("127.0.0.1", 8080)]) == "http://127.0.0.1:8080"
    assert page_address("::1", [("::1", 3000, 0, 0)]) == "http://[::1]:3000"


async def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from heavy_engine.cli import main; "
            "sys.exit(main())", "serve", "--port", str(port),
            cwd=tmp_path, env=_env(tmp_path, HEAVY_LOG_FORMAT="text"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)  # start-up, then the refusal
    text = err.decode()
    assert proc.returncode == 2, text
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"port {port} is already in use" in errors[0]
    assert "--port or PORT" in errors[0] and "Traceback" not in text


async def test_start_up_says_database_ready_and_where_to_open_the_page(
    tmp_path: Path, servers: list[Server],  # noqa: F811
) -> None:
    server = await Server(tmp_path, _env(tmp_path, HEAVY_LOG_FORMAT="text")).start()
    servers.append(server)
    await asyncio.sleep(0.2)  # the line after "serving on"
    text = "\n".join(server.lines)
    assert "database ready (sqlite " in text and "jobs.db, at head)" in text
    assert "alembic" not in text.lower()  # no "Context impl SQLiteImpl" and friends
    assert f"open {server.url}/ in a browser" in text
    async with aiohttp.ClientSession() as session, session.get(server.url + "/") as resp:
        assert resp.status == 200 and "<title>heavy</title>" in await resp.text()
