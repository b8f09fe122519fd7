"""`/mcp` on `heavy serve`: the MCP server over streamable HTTP, under the API's auth rules.

The SDK's streamable HTTP app (stateful sessions: a `notifications/cancelled` posted later
reaches the running tool call) is served through `_asgi.serve_asgi`. Its session manager's
anyio task group runs in a task of its own for the app's lifetime, so a failing MCP session can
never cancel the task that runs the service. The SDK's own Host/Origin check is off: the
service's middleware checks every route alike, and the SDK's default would refuse any host name
but localhost. Sessions live in this process: behind several `web` replicas, route a
client's requests to one replica (its `Mcp-Session-Id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ._api import MAX_BODY_BYTES, Api
from ._asgi import serve_asgi
from ._intake import caller_refusal

log = logging.getLogger("heavy.mcp")
MCP_PATH = "/mcp"


def mount_mcp(app: web.Application, api: Api) -> None:
    """Serve MCP at `/mcp` on `app`, asking through `api` (its limits and job list)."""
    # Imported here: the SDK (with Starlette) takes seconds to import, which every other
    # `heavy` command (`--help`, `ask`) would pay.
    from mcp.server.transport_security import TransportSecuritySettings

    from ._mcp_tools import build_mcp_server

    server = build_mcp_server(api.runner, lambda spec: api.submit(None, spec))
    asgi = server.streamable_http_app(
        streamable_http_path=MCP_PATH, max_request_body_size=MAX_BODY_BYTES,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    manager = server.session_manager  # made by streamable_http_app; run below, not by Starlette

    async def handle(request: web.Request) -> web.StreamResponse:
        if (refusal := caller_refusal(request, api.token)) is not None:
            return web.json_response({"error": refusal.message}, status=refusal.status,
                                     headers=refusal.headers)
        return await serve_asgi(asgi, request)

    async def lifespan(_: web.Application) -> AsyncIterator[None]:
        ready, stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                ready.set()
                await stop.wait()

        task = asyncio.get_running_loop().create_task(hold())
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # it failed to start: raise why
        yield
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)

    app.cleanup_ctx.append(lifespan)
    app.router.add_route("*", MCP_PATH, handle)
