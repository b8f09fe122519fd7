"""The procrastinate job queue's schema, installed next to heavy's own by `heavy db upgrade`,
and kept in step with the installed procrastinate.

procrastinate ships its schema for a fresh database (`schema.sql`) and, for a database made by
an older release, migration scripts in order (`<version>_<n>_pre_*.sql`, `..._post_*.sql`).
`heavy_queue_migrations` records which have been applied. A "pre" migration is applied by the
`heavy db upgrade` that precedes the rollout of the new code; a "post" one must wait until no
worker of the old code runs, so it is recorded when first seen and applied by the next
`heavy db upgrade` (the next deploy's), before that deploy's own "pre" ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from procrastinate.schema import SchemaManager

from ._urls import libpq_url

log = logging.getLogger("heavy.db")
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('heavy.queue_schema'))"
_TRACKING = """
CREATE TABLE IF NOT EXISTS heavy_queue_migrations (
    name varchar(200) PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz
)
"""


def _scripts(folder: Path | None) -> dict[str, Path]:
    """procrastinate's migration scripts by name, oldest first."""
    folder = folder or Path(SchemaManager.get_migrations_path())
    return {path.name: path for path in sorted(folder.glob("*.sql"))}


async def install_queue_schema(url: str, migrations: Path | None = None) -> bool:
    """Create procrastinate's tables and functions unless present; True when it created them.

    Idempotent: procrastinate's schema script is not, so it runs only on a database without
    `procrastinate_jobs`, in one transaction, under an advisory lock (two replicas running
    `heavy db upgrade` at once do not both install it). Every migration script of the
    installed procrastinate is recorded as applied: the fresh schema includes them.
    """
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        async with conn.transaction():
            await conn.execute(_LOCK)
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cur.fetchone()
            if row is not None and row[0] is not None:
                return False
            await conn.execute(SchemaManager.get_schema())
            await conn.execute(_TRACKING)
            await _record_applied(conn, list(_scripts(migrations)))
    return True


async def upgrade_queue_schema(url: str, migrations: Path | None = None) -> list[str]:
    """Apply procrastinate's migrations that the database lacks (see the module's docstring),
    in one transaction; the names applied, in order."""
    scripts = _scripts(migrations)
    applied: list[str] = []
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        async with conn.transaction():
            await conn.execute(_LOCK)
            await conn.execute(_TRACKING)
            cur = await conn.execute("SELECT name, applied_at IS NOT NULL "
                                     "FROM heavy_queue_migrations")
            known = {name: done for name, done in await cur.fetchall()}
            if not known:
                # Installed before heavy tracked procrastinate's migrations: the schema is
                # the one of the procrastinate installed then, taken to be this one.
                log.info("recording procrastinate's %d migrations as applied", len(scripts))
                await _record_applied(conn, list(scripts))
                return []
            # The "post" migrations the previous upgrade deferred: its rollout is over.
            for name in sorted(n for n, done in known.items() if not done and n in scripts):
                await conn.execute(scripts[name].read_text())
                await conn.execute("UPDATE heavy_queue_migrations SET applied_at = now() "
                                   "WHERE name = %s", (name,))
                applied.append(name)
            for name, path in scripts.items():
                if name in known:
                    continue
                if "_post_" in name:  # after this deploy's rollout: the next upgrade
                    await conn.execute("INSERT INTO heavy_queue_migrations (name) VALUES (%s)",
                                       (name,))
                    continue
                await conn.execute(path.read_text())
                await _record_applied(conn, [name])
                applied.append(name)
    return applied


async def _record_applied(conn: psycopg.AsyncConnection[object], names: list[str]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO heavy_queue_migrations (name, applied_at) VALUES (%s, now()) "
            "ON CONFLICT (name) DO UPDATE SET applied_at = excluded.applied_at",
            [(name,) for name in names])
