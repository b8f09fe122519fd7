"""`/mcp` on `heavy serve`: the MCP server over streamable HTTP, under the API's auth rules.

The SDK's streamable HTTP app (stateful sessions: a `notifications/cancelled` posted later
reaches the running tool call) is served through `_asgi.serve_asgi`. Its session manager's
anyio task group runs in a task of its own until the app stops, so a failing MCP session can
never cancel the task that runs the service. The SDK (with Starlette) takes seconds to import,
so it is loaded at the first `/mcp` request, not at start-up. The SDK's own Host/Origin check
is off: the service's middleware checks every route alike, and the SDK's default would refuse
any host name but localhost. Sessions live in this process: behind several `web` replicas,
route a client's requests to one replica (its `Mcp-Session-Id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from ._api import Api
from ._asgi import AsgiApp, serve_asgi
from ._callers import ASGI_CALLER
from ._intake import MAX_BODY_BYTES, Refusal

log = logging.getLogger("heavy.mcp")
MCP_PATH = "/mcp"


class _McpEndpoint:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._app: AsgiApp | None = None
        self._starting = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        caller = self.api.caller(request)
        if isinstance(caller, Refusal):
            return web.json_response({"error": caller.message}, status=caller.status,
                                     headers=caller.headers)
        # Each request says who calls (a session may outlive a token's change of hands).
        return await serve_asgi(await self._started(), request, {ASGI_CALLER: caller})

    async def _started(self) -> AsgiApp:
        async with self._starting:
            if self._app is None:
                self._app = await self._start()
            return self._app

    async def _start(self) -> AsgiApp:
        from mcp.server.transport_security import TransportSecuritySettings

        from ._mcp_tools import build_mcp_server

        server = build_mcp_server(self.api.runner,
                                  lambda spec, caller: self.api.submit(None, spec, caller))
        app: Any = server.streamable_http_app(
            streamable_http_path=MCP_PATH, max_request_body_size=MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        manager = server.session_manager  # made by streamable_http_app; run here, not by Starlette
        ready = asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                ready.set()
                await self._stop.wait()

        self._task = asyncio.get_running_loop().create_task(hold())
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: raise why
        asgi: AsgiApp = app
        return asgi

    async def close(self, _: web.Application) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5.0)


def mount_mcp(app: web.Application, api: Api) -> None:
    """Serve MCP at `/mcp` on `app`, asking through `api` (its limits and job list)."""
    endpoint = _McpEndpoint(api)
    app.on_cleanup.append(endpoint.close)
    app.router.add_route("*", MCP_PATH, endpoint.handle)
