"""One aiohttp request served by an ASGI application: the `mcp` SDK's streamable HTTP transport
is ASGI only (Starlette), and `/mcp` must be on `heavy serve`'s own port, behind its auth and
middleware, so a second server (uvicorn on another port) is out.

Written here rather than taken from aiohttp-asgi (the one adapter on PyPI): its `receive`
returns empty bodies forever once the request is read, where ASGI servers block until the
client leaves and then say `http.disconnect`. sse-starlette, which the SDK streams with, loops
on `receive` to notice a client that went away, so with that adapter it would spin, and a
client that went away would never be noticed. This bridge answers `http.disconnect` when the
connection closes (`_intake.client_gone`: aiohttp does not cancel handlers when clients leave).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

from ._intake import client_gone

Message = MutableMapping[str, Any]
AsgiApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]


async def serve_asgi(app: AsgiApp, request: web.Request,
                     state: dict[str, Any] | None = None) -> web.StreamResponse:
    """Run `app` for `request` (the whole body read first: the app's client_max_size bounds
    it) and stream what it sends back. `state`: the scope's `state` (the server's own data
    for the app, e.g. who calls; Starlette's `request.state`)."""
    body = await request.read()
    sent_body = False
    response: web.StreamResponse | None = None

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await client_gone(request)  # what ASGI servers do: block until the client is gone
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", ()):
                response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            if "Content-Length" not in response.headers:
                response.enable_chunked_encoding()
            await response.prepare(request)
        elif message["type"] == "http.response.body":
            assert response is not None, "http.response.body before http.response.start"
            if chunk := message.get("body", b""):
                await response.write(chunk)
            if not message.get("more_body", False):
                await response.write_eof()

    host, port = (request.transport.get_extra_info("sockname") or ("", 0))[:2] \
        if request.transport is not None else ("", 0)
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method, "scheme": request.scheme, "root_path": "",
        "path": request.path, "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "headers": [(k.lower(), v) for k, v in request.raw_headers],
        "client": (request.remote or "", 0), "server": (host, port), "state": dict(state or {}),
    }
    await app(scope, receive, send)
    if response is None:  # the app sent nothing: not a valid ASGI exchange
        return web.Response(status=500, text="The MCP transport sent no response.")
    return response
