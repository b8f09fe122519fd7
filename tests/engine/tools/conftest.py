"""Fixtures for the tool tests: a raw local HTTP server (127.0.0.1 only) and a fake resolver."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from heavy_engine import ToolSettings
from heavy_engine.tools import ToolContext, ToolFailed

Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]
MB = 1_000_000


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class LocalServer:
    """A tiny HTTP/1.1 server written on raw streams, so a test controls every byte it sends."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            parts = urlsplit(target)
            req = Request(method, parts.path, parse_qs(parts.query), headers, body)
            self.requests.append(req)
            handler = self.routes.get(parts.path, _not_found)
            await handler(req, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up, which is what a size limit does
        finally:
            writer.close()
            self.tasks.discard(task)


def response(
    status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str
) -> bytes:
    """Raw bytes of a complete response with Content-Length."""
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode() + body


async def _not_found(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(404, b"not found"))


async def _page(req: Request, w: asyncio.StreamWriter) -> None:
    html = (b"<html><head><title>Hello page</title><style>body{color:red}</style>"
            b"<script>var secret='SCRIPT-CONTENT';</script></head><body><h1>Welcome</h1>"
            b"<p>Visible &amp; readable text.</p><ul><li>one</li><li>two</li></ul></body></html>")
    w.write(response(200, html, "text/html; charset=utf-8"))


async def _echo_host(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(200, f"host={req.headers.get('host')}".encode()))


async def _secret(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(200, b"TOPSECRET-internal-service"))


async def _big_declared(req: Request, w: asyncio.StreamWriter) -> None:
    """Declares 50 MB; sends it lazily, until the client hangs up."""
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50000000\r\n\r\n")
    for _ in range(50 * MB // 65536):
        w.write(b"x" * 65536)
        await w.drain()


async def _big_chunked(req: Request, w: asyncio.StreamWriter) -> None:
    """50 MB with no length announced (read until close)."""
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    for _ in range(50 * MB // 65536):
        w.write(b"x" * 65536)
        await w.drain()


_BOMB: list[bytes] = []


async def _gzip_bomb(req: Request, w: asyncio.StreamWriter) -> None:
    """About 50 KB on the wire that inflates to 50 MB of zeros."""
    if not _BOMB:
        _BOMB.append(gzip.compress(bytes(50 * MB), 6))
    w.write(response(200, _BOMB[0], "text/html", Content_Encoding="gzip"))


async def _gzip_ok(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(200, gzip.compress(b"compressed but fine"), Content_Encoding="gzip"))


async def _redirect(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(302, Location=req.query["to"][0]))


async def _loop(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(302, Location="/loop"))


async def _hang(req: Request, w: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _binary(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(200, b"\x00\x01\x02", "application/octet-stream"))


ROUTES: dict[str, Handler] = {
    "/page": _page, "/echo-host": _echo_host, "/secret": _secret, "/big": _big_declared,
    "/big-chunked": _big_chunked, "/bomb": _gzip_bomb, "/gzip": _gzip_ok,
    "/redirect": _redirect, "/loop": _loop, "/hang": _hang, "/binary": _binary,
}


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv = LocalServer(routes=dict(ROUTES))
    tcp = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = tcp.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        tcp.close()
        for task in list(srv.tasks):  # e.g. /hang, still sleeping
            task.cancel()
        await asyncio.gather(*srv.tasks, return_exceptions=True)
        await tcp.wait_closed()


class FakeResolver:
    """Resolves only the names it is given (no DNS in tests) and counts lookups."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise ToolFailed(f"cannot resolve {host}")
        return self.table[host]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def make_ctx(scratch: Path, **settings: object) -> ToolContext:
    return ToolContext("req-test", scratch, ToolSettings.model_validate(settings))
