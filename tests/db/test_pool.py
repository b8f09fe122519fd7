"""The database handle's connection pool: opened at start-up on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from heavy_engine.db import Database
from heavy_engine.db._database import POOL_SIZE


async def test_warm_opens_the_whole_pool_once(pg_url: str) -> None:
    async with await Database.open(pg_url, migrate=False) as db:
        assert await db.warm() == POOL_SIZE
        assert db.engine.sync_engine.pool.checkedin() == POOL_SIZE  # type: ignore[attr-defined]
        async with db.reads() as session:
            mine = await session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend'"))
        assert mine == POOL_SIZE  # the session reused one of them: nothing opened on demand
        assert await db.warm() == POOL_SIZE  # again: the same connections, none added
        assert db.engine.sync_engine.pool.checkedin() == POOL_SIZE  # type: ignore[attr-defined]


async def test_a_server_short_of_connections_only_costs_a_warning(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    role = f"few_{uuid.uuid4().hex[:8]}"  # superusers ignore connection limits; a role does not
    async with await Database.open(pg_url, migrate=False) as admin, admin.reads() as session:
        await session.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT {POOL_SIZE - 5}"))
    try:
        async with await Database.open(pg_url.replace("postgres@", f"{role}@"),
                                       migrate=False) as db:
            assert await db.warm() == POOL_SIZE - 5
    finally:
        async with await Database.open(pg_url, migrate=False) as admin, \
                admin.reads() as session:
            await session.execute(text(f"DROP ROLE {role}"))
    assert f"opened {POOL_SIZE - 5} of {POOL_SIZE} database connections" in caplog.text
    assert "too many connections" in caplog.text  # the server's reason, for the operator


async def test_sqlite_has_nothing_to_warm(tmp_path: object) -> None:
    async with await Database.open(f"sqlite+aiosqlite:///{tmp_path}/h.db") as db:
        assert await db.warm() == 0
