"""The statements every job runs on a worker (admission, status changes, event appends) go to
psycopg directly, on the job queue's pool of autocommit connections.

A statement through a SQLAlchemy session costs ~480 µs of CPU on this project's 2-core test
machine (pool checkout, isolation level, greenlet hop), the same statement on psycopg ~120 µs;
a worker runs several per job, hundreds of jobs at once. Everything else (settings, the API's
reads, the reply ledger) stays on SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg_pool
from psycopg.types.json import Json

from ..db import dump_json


def json(value: Any) -> Json:
    """A parameter for a JSON column (encoded with orjson, as SQLAlchemy's columns are)."""
    return Json(value, dumps=dump_json)


class Direct:
    def __init__(self, pool: Callable[[], psycopg_pool.AsyncConnectionPool]) -> None:
        self._pool = pool  # called on use: the queue opens its pool after we are built

    async def one(self, query: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run `query` (psycopg's `%(name)s` placeholders); its first row, if it returns any."""
        async with self._pool().connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone() if cursor.description else None
