"""Migrations from empty to head and back, one revision at a time, and offline `--sql`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from heavy_engine import db as heavy_db
from heavy_engine.db import Base, Database

REPO = heavy_db.MIGRATIONS_DIR.parent
OURS = {"channel_settings", "settings_audit", "jobs"}


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"


def _revisions() -> list[str]:
    """Oldest first."""
    script = ScriptDirectory.from_config(heavy_db.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def test_open_migrates_sqlite_to_head_and_downgrades_to_empty(tmp_path: Path) -> None:
    db = await Database.open(_url(tmp_path))
    try:
        assert await db.current() == heavy_db.head_revision()
        assert await _tables(db) >= OURS
        await db.downgrade("base")
        assert await db.current() is None
        assert await _tables(db) == set()
    finally:
        await db.close()


async def test_every_revision_upgrades_from_the_previous_and_back(tmp_path: Path) -> None:
    revisions = _revisions()
    assert revisions[0] == "0001_settings"
    db = await Database.open(_url(tmp_path), migrate=False)
    try:
        for previous, revision in zip(["base", *revisions[:-1]], revisions, strict=True):
            await db.upgrade(revision)
            assert await db.current() == revision
            await db.downgrade(previous)
            assert await db.current() == (None if previous == "base" else previous)
            await db.upgrade(revision)
    finally:
        await db.close()


async def test_models_match_the_migrations(tmp_path: Path) -> None:
    def diff(conn: Connection) -> list[object]:
        # Every model loaded in this process; tables whose models are not imported are skipped.
        ctx = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, _parent: (
                kind != "table" or name in Base.metadata.tables),
        })
        return list(compare_metadata(ctx, Base.metadata))

    assert OURS <= Base.metadata.tables.keys()
    async with await Database.open(_url(tmp_path)) as db, db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_open_without_migrate_leaves_the_database_empty(tmp_path: Path) -> None:
    async with await Database.open(_url(tmp_path), migrate=False) as db:
        assert await db.current() is None


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    async with await Database.open(_url(tmp_path)) as db, db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000


async def test_default_url_is_a_file_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # conftest already does; stated here because it matters
    async with await Database.open() as db:
        assert await db.current() == heavy_db.head_revision()
    assert (tmp_path / "data" / "heavy.db").exists()


def test_sync_helpers_use_heavy_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", _url(tmp_path))
    assert heavy_db.current() is None
    heavy_db.upgrade()
    assert heavy_db.current() == heavy_db.head_revision()
    heavy_db.downgrade(None, "base")
    assert heavy_db.current() is None


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite:///./data/heavy.db",  # the embedded default
    "postgresql+asyncpg://heavy@db/heavy",  # offline needs only the dialect, not the driver
])
def test_alembic_upgrade_head_sql_prints_the_ddl(tmp_path: Path, url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"),
         "upgrade", "head", "--sql"],
        cwd=tmp_path, env={"HEAVY_DATABASE_URL": url, "PATH": ""},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    for table in OURS:
        assert f"CREATE TABLE {table}" in done.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001_settings')" in done.stdout
    assert not (tmp_path / "data").exists()  # offline: nothing was created or connected to
