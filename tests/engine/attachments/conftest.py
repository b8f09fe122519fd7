"""A local file server (real HTTP) that records what each request carried."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from .pdfs import make_pdf

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
FILES: dict[str, tuple[bytes, str]] = {
    "notes.txt": (b"Meeting notes: ship on Friday.\n", "text/plain"),
    "data.csv": (b"region,sales\nnorth,10\nsouth,12\n", "text/csv"),
    "report.pdf": (make_pdf("Quarterly revenue rose 12 percent", "Costs fell"), "application/pdf"),
    "broken.pdf": (b"%PDF-1.4\nthis is not really a pdf at all", "application/pdf"),
    "scan.pdf": (make_pdf(""), "application/pdf"),
    "photo.png": (PNG, "image/png"),
    "fake.png": (b"GIF? no, just text", "image/png"),
    "binary.txt": (b"\x00\x01\x02binary" * 10, "text/plain"),
    "empty.txt": (b"", "text/plain"),
}
# Bodies sent with a Content-Encoding: small bombs (20 MB of zeros) and an honest file.
BOMB = gzip.compress(bytes(20_000_000), 9)
ENCODED: dict[str, tuple[bytes, str]] = {
    "bomb.txt": (BOMB, "gzip"),
    "bomb2.txt": (gzip.compress(BOMB, 9), "gzip, gzip"),
    "zipped.txt": (gzip.compress(b"Compressed notes: ship on Friday.\n" * 3), "gzip"),
    "deflated.txt": (zlib.compress(b"Deflated notes.\n"), "deflate"),
    "packed.txt": (b"whatever", "br"),
}


@dataclass
class FileServer:
    url: str = ""
    seen: list[web.Request] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)


async def _start(handler_factory: object) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler_factory)  # type: ignore[arg-type]
    # a client that gave up (a timed-out download) cancels its handler: no wait at cleanup
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def other() -> AsyncIterator[FileServer]:
    """A second origin: nothing should ever reach it."""
    state = FileServer()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.seen.append(request)
        state.auth.append(request.headers.get("Authorization"))
        return web.Response(body=b"secret-stealing server", content_type="text/plain")

    runner, state.url = await _start(handle)
    yield state
    await runner.cleanup()


@pytest.fixture
async def files(other: FileServer) -> AsyncIterator[FileServer]:
    state = FileServer()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.seen.append(request)
        state.auth.append(request.headers.get("Authorization"))
        state.queries.append(request.query_string)
        name = request.match_info["tail"].rsplit("/", 1)[-1]
        if name in FILES:
            body, ctype = FILES[name]
            return web.Response(body=body, headers={"Content-Type": ctype})
        if name in ENCODED:
            body, encoding = ENCODED[name]
            return web.Response(body=body, headers={"Content-Type": "text/plain",
                                                    "Content-Encoding": encoding})
        if name == "big.csv":  # no Content-Length: the cap must hold while reading
            response = web.StreamResponse(headers={"Content-Type": "text/csv"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(40):
                await response.write(b"x," * 50_000)
            return response
        if name == "slow.txt":
            await asyncio.sleep(5)
            return web.Response(text="too late")
        if name == "login.txt":
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        if name == "away.txt":
            raise web.HTTPFound(f"{other.url}/steal.txt")
        if name == "hop.txt":
            raise web.HTTPFound("/files/notes.txt")
        raise web.HTTPNotFound()

    runner, state.url = await _start(handle)
    yield state
    await runner.cleanup()
