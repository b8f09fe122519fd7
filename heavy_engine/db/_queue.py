"""The procrastinate job queue's schema, installed next to heavy's own by `heavy db upgrade`."""

from __future__ import annotations

import psycopg
from procrastinate.schema import SchemaManager

from ._urls import libpq_url


async def install_queue_schema(url: str) -> bool:
    """Create procrastinate's tables and functions unless present; True when it created them.

    Idempotent: procrastinate's schema script is not, so it runs only on a database without
    `procrastinate_jobs`, in one transaction, under an advisory lock (two replicas running
    `heavy db upgrade` at once do not both install it).
    """
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('heavy.queue_schema'))")
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cur.fetchone()
            if row is not None and row[0] is not None:
                return False
            await conn.execute(SchemaManager.get_schema())
    return True
