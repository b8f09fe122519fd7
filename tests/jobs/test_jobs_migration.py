"""Revision 0002_jobs: matches the `JobRow` model, upgrades from 0001 with data, downgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from heavy_engine.db import Base, Database, JobRow


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"


def _only_jobs(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    table = obj if kind == "table" else getattr(obj, "table", None)
    return table is None or table.name == "jobs"


async def test_the_model_matches_the_migration(tmp_path: Path) -> None:
    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"include_object": _only_jobs})
        return list(compare_metadata(ctx, Base.metadata))

    assert JobRow.__table__.name == "jobs"
    async with await Database.open(_url(tmp_path)) as db, db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_upgrade_from_0001_keeps_settings_and_downgrade_drops_jobs(tmp_path: Path) -> None:
    async with await Database.open(_url(tmp_path), migrate=False) as db:
        await db.upgrade("0001_settings")
        async with db.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO processed_events (platform, event_id, created_at) "
                "VALUES ('slack', 'Ev1', '2026-11-24 00:00:00')"))
        await db.upgrade("0002_jobs")
        assert await db.current() == "0002_jobs"
        async with db.engine.connect() as conn:
            kept = await conn.execute(text("SELECT count(*) FROM processed_events"))
            assert kept.scalar() == 1
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("jobs")})
        assert "jobs" in names
        assert {"ix_jobs_status_created", "ix_jobs_channel_created"} <= indexes
        await db.downgrade("0001_settings")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "jobs" not in names and "processed_events" in names
