"""Migrations from empty to head and back, one revision at a time, and offline `--sql`."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from heavy_engine import db as heavy_db
from heavy_engine.cli import main
from heavy_engine.db import Base, Database

REPO = Path(__file__).resolve().parents[2]
OURS = {"channel_settings", "settings_audit", "jobs"}


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"


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
    revisions = heavy_db.revisions()
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


def test_heavy_db_upgrade_uses_heavy_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", _url(tmp_path))
    head = heavy_db.head_revision()
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == f"empty (no revision) (head is {head})\n"
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"{head} (head)\n"
    assert main(["db", "downgrade", "base"]) == 0
    assert capsys.readouterr().out.startswith("empty (no revision)")


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite:///./data/heavy.db",  # the embedded default
    "postgresql+asyncpg://heavy@db/heavy",  # offline needs only the dialect, not the driver
])
def test_heavy_db_upgrade_sql_prints_the_ddl(tmp_path: Path, url: str) -> None:
    # A child process in an empty folder: no alembic.ini or source tree is needed.
    done = subprocess.run(
        [sys.executable, "-m", "heavy_engine.cli", "db", "upgrade", "--sql"],
        cwd=tmp_path, env={"HEAVY_DATABASE_URL": url, "PATH": "", "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    for table in OURS:
        assert f"CREATE TABLE {table}" in done.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001_settings')" in done.stdout
    assert f"version_num='{heavy_db.head_revision()}'" in done.stdout
    assert not (tmp_path / "data").exists()  # offline: nothing was created or connected to


def test_the_migrations_are_package_data() -> None:
    # A wheel carries heavy_engine/migrations only if package-data names every file of it;
    # `heavy db upgrade` from a regular (non-editable) install depends on it.
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"]["heavy_engine"]
    package = REPO / "heavy_engine"
    files = [f for f in heavy_db.MIGRATIONS_DIR.rglob("*")
             if f.is_file() and "__pycache__" not in f.parts]
    assert heavy_db.MIGRATIONS_DIR == package / "migrations"
    assert {f.name for f in files} >= {"env.py", "script.py.mako", "0001_settings.py"}
    for f in files:
        relative = f.relative_to(package)
        assert any(fnmatch.fnmatch(str(relative), g) for g in globs), relative
    assert len(list((heavy_db.MIGRATIONS_DIR / "versions").glob("*.py"))) == len(
        heavy_db.revisions())


async def test_0003_frees_the_platform_column(tmp_path: Path) -> None:
    insert = text("INSERT INTO channel_settings (platform, workspace, channel, overrides, "
                  "version, updated_by, updated_at) VALUES "
                  "(:p, 'T1', '', '{}', 1, 'u', '2026-12-01 00:00:00')")
    async with await Database.open(_url(tmp_path), migrate=False) as db:
        await db.upgrade("0002_jobs")
        async with db.engine.begin() as conn:
            await conn.execute(insert, {"p": "slack"})
        with pytest.raises(IntegrityError):  # the old CHECK: only slack and discord
            async with db.engine.begin() as conn:
                await conn.execute(insert, {"p": "teams"})
        await db.upgrade("0003_platform_free")
        async with db.engine.begin() as conn:
            await conn.execute(insert, {"p": "teams"})
            rows = (await conn.execute(text(
                "SELECT platform FROM channel_settings ORDER BY platform"))).scalars().all()
        assert rows == ["slack", "teams"]  # the copy kept the existing row
        await db.downgrade("0002_jobs")  # the old rule again: rows it refuses are removed
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT platform FROM channel_settings"))).scalars().all()
        assert rows == ["slack"]


async def test_postgresql_upgrades_to_head_and_back_one_revision_at_a_time(pg_url: str) -> None:
    """The PostgreSQL-only DDL (heavy_admit(), partial indexes) goes up and down too."""
    async with await Database.open(pg_url, migrate=False) as db:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regproc('heavy_admit')")) is not None
        for revision in reversed(heavy_db.revisions()[:-1]):
            await db.downgrade(revision)
            assert await db.current() == revision
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regproc('heavy_admit')")) is None
        await db.downgrade("base")
        assert await _tables(db) == set()
        await db.upgrade()
        assert await db.current() == heavy_db.head_revision()
