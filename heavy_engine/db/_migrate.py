"""Alembic, driven from code. The async engine lends env.py a connection (no nested loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import heavy_engine

MIGRATIONS_DIR = Path(heavy_engine.__file__).resolve().parent.parent / "migrations"
T = TypeVar("T")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at `migrations/`, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _with_connection(action: Callable[[Config], None]) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        action(cfg)

    return run


async def run_upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_with_connection(lambda cfg: command.upgrade(cfg, revision)))


async def run_downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_with_connection(lambda cfg: command.downgrade(cfg, revision)))


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def _run(url: str | None, job: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from ._engine import create_engine

    async def go() -> T:
        engine = create_engine(url)
        try:
            return await job(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (default: `$HEAVY_DATABASE_URL`) up; not from async code."""
    _run(url, lambda engine: run_upgrade(engine, revision))


def downgrade(url: str | None, revision: str) -> None:
    """Migrate the database at `url` down to `revision`; not from async code."""
    _run(url, lambda engine: run_downgrade(engine, revision))


def current(url: str | None = None) -> str | None:
    """The Alembic revision of the database at `url`; not from async code."""
    return _run(url, current_revision)
