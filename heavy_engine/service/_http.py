"""The service's aiohttp application: health, metrics, the HTTP API and adapters' routes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy.exc import OperationalError

from ..jobs import JobRunner
from ..observability import CONTENT_TYPE, Metrics, redact
from ._api import Api
from ._callers import NamedTokens
from ._health import RETRY_AFTER_S, WriteHealth
from ._intake import MAX_BODY_BYTES
from ._mcp_http import mount_mcp
from ._openai_routes import OpenAiRoutes
from ._page import page_routes
from ._request_guard import AllowedHosts, add_nosniff, request_guard

log = logging.getLogger("heavy.http")


class Readiness:
    """Whether `/healthz` reports ready; mutable because a started app's state is frozen."""

    ready = False


READY = web.AppKey("heavy_ready", Readiness)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    runner: JobRunner,
    metrics: Metrics,
    *,
    api_token: str | None,
    api_tokens: NamedTokens | None = None,
    extra_routes: Iterable[Any] = (),
    allowed_hosts: AllowedHosts | None = None,
) -> web.Application:
    """The whole HTTP surface. `app[READY].ready` gates `/healthz` (False until started).
    `api_token`: `HEAVY_API_TOKEN`; `api_tokens`: the named ones (`HEAVY_API_TOKENS_FILE`);
    `allowed_hosts`: names besides loopback and the local address (see `_request_guard`)."""
    # Outermost first: the metrics see the status the guard and the error middleware chose;
    # the guard stands before every route, also the adapters'.
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[_measure(metrics), request_guard(allowed_hosts or AllowedHosts()),
                     _errors()])
    app.on_response_prepare.append(add_nosniff)
    app[READY] = Readiness()
    engine = runner.store.db.engine
    health = WriteHealth.watch(engine)

    async def healthz(request: web.Request) -> web.Response:
        if not (request.app[READY].ready and runner.accepting):
            return web.json_response({"status": "starting or stopping"}, status=503)
        await health.probe(engine)
        if not health.writable:
            return web.json_response({"status": "the database cannot be written"}, status=503,
                                     headers={"Retry-After": str(RETRY_AFTER_S)})
        queued, running = runner.counts()
        body: dict[str, Any] = {"status": "ok", "queued": queued, "running": running}
        if metrics.adapters:  # informative: a chat platform being down is not the service's
            body["adapters"] = {name: {"state": state, "detail": detail}
                                for name, (state, detail) in sorted(metrics.adapters.items())}
        if servers := runner.engine.mcp_status():  # details: a down server fails no probe
            body["mcp"] = {s.name: s.as_dict() for s in servers}
        return web.json_response(body)

    async def metrics_page(request: web.Request) -> web.Response:
        for server in runner.engine.mcp_status():
            if server.state in ("up", "down"):
                metrics.mcp_up.set(1 if server.state == "up" else 0, server=server.name)
        return web.Response(body=metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    api = Api(runner, api_token, api_tokens)
    app.router.add_routes(api.routes())
    app.router.add_routes(OpenAiRoutes(api).routes())  # /v1/models, /v1/chat/completions
    mount_mcp(app, api)  # /mcp
    app.router.add_routes(page_routes())  # the web page at /
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


def _errors() -> Middleware:
    """No plain-text 500: database trouble is 503 JSON with Retry-After, anything else
    unexpected is 500 JSON with a reference, logged once with its traceback."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except OperationalError as err:
            # Locked past the busy timeout, disk full: the client may try again shortly.
            log.warning("%s %s: the database is unavailable: %s", request.method,
                        request.path, redact(str(err.orig)))
            return web.json_response(
                {"error": "The database is busy or full; please try again shortly.",
                 "retry_after": RETRY_AFTER_S},
                status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("%s %s failed (reference %s)", request.method, request.path,
                          reference)
            return web.json_response(
                {"error": f"Internal error (reference {reference}).", "reference": reference},
                status=500)

    return middleware
