"""The statements every job runs on a worker (admission, status changes, event appends) go to
psycopg directly, on the job queue's pool of autocommit connections.

A statement through a SQLAlchemy session costs ~480 µs of CPU on this project's 2-core test
machine (pool checkout, isolation level, greenlet hop), the same statement on psycopg ~120 µs;
a worker runs several per job, hundreds of jobs at once. Everything else (settings, the API's
reads, the reply ledger) stays on SQLAlchemy.

That pool checks a connection on checkout without a round trip (`alive`): procrastinate's own
pool sent an empty query before every statement, its fetches and finishes included, which
doubled the round trips of every job (9% of a replica's samples in bench/replicas.py).
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg.types.json import Json

from ..db import dump_json

log = logging.getLogger("heavy.runtime")


def json(value: Any) -> Json:
    """A parameter for a JSON column (encoded with orjson, as SQLAlchemy's columns are)."""
    return Json(value, dumps=dump_json)


async def alive(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check on checkout: raises when the connection is gone, which makes the pool
    replace it. An idle connection has nothing to read unless the server is closing it (a
    FATAL message, then end of file: a restart, `pg_terminate_backend`, an idle timeout), so
    only a connection with something to read is asked for real."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    if _readable(conn.pgconn.socket):
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    poller = select.poll()  # not select(): a busy process may hold descriptors above 1024
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def queue_pool(**kwargs: Any) -> psycopg_pool.AsyncConnectionPool[Any]:
    """The job queue's pool (procrastinate's `pool_factory`): what procrastinate asks for,
    checked by `alive` instead of a round trip.

    One dead connection usually means they all are (a server restart): the pool would try its
    idle ones one by one, backing off 1 s, 2 s, 4 s... between them, and a full pool of dead
    connections outlasts the checkout's timeout. So the first one found dead also starts the
    pool's own sweep (`check()`), which replaces every dead idle connection at once."""
    sweeping: set[asyncio.Task[None]] = set()

    async def check(conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            await alive(conn)
        except Exception:
            if not sweeping:
                task = asyncio.get_running_loop().create_task(pool.check())
                sweeping.add(task)
                task.add_done_callback(_swept)
            raise

    def _swept(task: asyncio.Task[None]) -> None:
        sweeping.discard(task)
        if not task.cancelled() and task.exception() is not None:  # e.g. the pool closed
            log.debug("sweeping the job queue's pool failed: %s", task.exception())

    pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
        **{**kwargs, "check": check})
    return pool


class Direct:
    def __init__(self, pool: Callable[[], psycopg_pool.AsyncConnectionPool]) -> None:
        self._pool = pool  # called on use: the queue opens its pool after we are built

    async def one(self, query: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run `query` (psycopg's `%(name)s` placeholders); its first row, if it returns any."""
        async with self._pool().connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone() if cursor.description else None

    async def row(self, query: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row of `query` by column name, its times in UTC (as the SQLAlchemy
        columns give them), or None."""
        async with self._pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            found = await cur.fetchone()
        return None if found is None else in_utc(found)


def in_utc(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row by column name with its times in UTC, as the SQLAlchemy columns give them."""
    return {name: value.astimezone(UTC) if isinstance(value, datetime) else value
            for name, value in row.items()}
