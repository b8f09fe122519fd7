"""The service's aiohttp application: health, metrics, the HTTP API and adapters' routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..observability import CONTENT_TYPE, Metrics
from ._api import MAX_BODY_BYTES, Api
from ._runner import DurableRunner

if TYPE_CHECKING:
    from ._distributed import DistributedRunner


class Readiness:
    """Whether `/healthz` reports ready; mutable because a started app's state is frozen."""

    ready = False


READY = web.AppKey("heavy_ready", Readiness)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    runner: DurableRunner | DistributedRunner,
    metrics: Metrics,
    *,
    api_token: str | None,
    extra_routes: Iterable[Any] = (),
) -> web.Application:
    """The whole HTTP surface. `app[READY].ready` gates `/healthz` (False until started)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_measure(metrics)])
    app[READY] = Readiness()

    async def healthz(request: web.Request) -> web.Response:
        if request.app[READY].ready and runner.accepting:
            queued, running = runner.counts()
            return web.json_response({"status": "ok", "queued": queued, "running": running})
        return web.json_response({"status": "starting or stopping"}, status=503)

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_routes(Api(runner, api_token).routes())
    app.router.add_routes(list(extra_routes))
    return app


def _measure(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        resource = request.match_info.route.resource
        # The route pattern, never the raw path: ids would make one series per job.
        route = resource.canonical if resource is not None else "unmatched"
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as err:
            status = err.status
            raise
        finally:
            metrics.http_requests.inc(method=request.method, route=route, status=str(status))
            metrics.http_latency.observe(time.monotonic() - started, route=route)

    return middleware
