"""The listening socket of `heavy serve`: idle and slow clients are closed, connections bounded.

aiohttp's `keepalive_timeout` starts with the connection, and only a complete request stops it:
a client that sends nothing, or its headers a line at a time, is closed when it runs out
(`HEAVY_IDLE_TIMEOUT`, default 30 s). aiohttp has no connection limit, so the protocol factory
handed to the event loop counts them: past `HEAVY_MAX_CONNECTIONS` a new connection gets a
503 and is closed at once, before any parsing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import cast

from aiohttp import web

from ..core import ConfigError

DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000
_BODY = b'{"error": "The server has too many open connections; try again shortly."}'
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
            + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


def connection_options(env: Mapping[str, str]) -> tuple[float, int]:
    """(idle timeout in seconds, connection limit) from the environment, or ConfigError."""
    raw_idle = env.get("HEAVY_IDLE_TIMEOUT") or str(DEFAULT_IDLE_TIMEOUT)
    raw_max = env.get("HEAVY_MAX_CONNECTIONS") or str(DEFAULT_MAX_CONNECTIONS)
    try:
        idle = float(raw_idle)
    except ValueError:
        idle = math.nan
    if not 0 < idle <= 3600:  # nan compares false too
        raise ConfigError(f"HEAVY_IDLE_TIMEOUT must be seconds from 0 to 3600 (got {raw_idle!r})")
    if not (raw_max.isdigit() and len(raw_max) <= 7 and int(raw_max) >= 1):
        raise ConfigError(f"HEAVY_MAX_CONNECTIONS must be a whole number from 1 to 9999999 "
                          f"(got {raw_max!r})")
    return idle, int(raw_max)


class _Refuse(asyncio.Protocol):
    """Answers 503 and half-closes; what the client sends is dropped. Closed a second later:
    closing at once, with the request unread, would reset the connection and lose the 503."""

    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is one without subclassing asyncio.Transport)
        stream = cast(asyncio.Transport, transport)
        stream.write(_REFUSAL)
        if stream.can_write_eof():
            stream.write_eof()
        self._timer = asyncio.get_running_loop().call_later(1.0, stream.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the client is done too: close now

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _Bounded:
    """aiohttp's protocol factory while fewer than `limit` connections are open.

    aiohttp counts a connection from its `connection_made`, which the event loop calls soon
    after this factory returns; until then the handler is counted here, as one without a
    transport. A handler leaves this set two loop turns later, once `connection_made` has
    certainly run (or its transport failed first): counting it by its transport, not by time,
    neither misses a connection nor counts one twice while it is in both places."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server, self.limit = server, limit
        self.accepted: set[web.RequestHandler] = set()
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        waiting = sum(1 for handler in self.accepted if handler.transport is None)
        if len(self.server.connections) + waiting >= self.limit:
            self.refused += 1
            return _Refuse()
        handler = self.server()
        self.accepted.add(handler)
        loop = asyncio.get_running_loop()
        # Two hops: the transport schedules connection_made after this returns.
        loop.call_soon(loop.call_soon, self.accepted.discard, handler)
        return handler


async def listen(http: web.AppRunner, host: str, port: int, limit: int) -> asyncio.Server:
    """Start accepting on (host, port) for the set-up `http` runner; close it before
    `http.cleanup()`."""
    server = http.server
    assert server is not None, "call http.setup() first"
    loop = asyncio.get_running_loop()
    return await loop.create_server(_Bounded(server, limit), host, port, backlog=128)
