"""heavy's database: SQLAlchemy 2 async models, the `Database` handle and Alembic helpers.

Invariant: the schema changes only through the migrations in `heavy_engine/migrations/`
(append-only revisions, shipped in the package), run by `Database.upgrade()`. SQLite, the
embedded default, is migrated by `Database.open()`; other backends by `heavy db upgrade`.
"""

from __future__ import annotations

from ._base import Base, UTCDateTime, utcnow
from ._database import DEFAULT_URL, URL_ENV, Database, create_engine, database_url, is_sqlite
from ._job_tables import JobRow
from ._json import dumps as dump_json
from ._migrate import MIGRATIONS_DIR, head_revision, revisions, upgrade_sql
from ._queue_tables import JobEventRow, JobTaskRow
from ._tables import ChannelSettings, SettingsAudit
from ._urls import is_postgres, libpq_url, normalize_url


async def install_queue_schema(url: str) -> bool:
    """Install procrastinate's schema next to ours (PostgreSQL); True when it was created.
    Imported on use: psycopg and procrastinate come with the `postgres` extra."""
    from ._queue import install_queue_schema as install

    return await install(url)


async def upgrade_queue_schema(url: str) -> list[str]:
    """Apply the procrastinate migrations the database lacks (PostgreSQL); their names.
    A "post" migration waits for the next upgrade (the rollout of this one is over by then)."""
    from ._queue import upgrade_queue_schema as upgrade

    return await upgrade(url)


__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "URL_ENV",
    "Base",
    "ChannelSettings",
    "Database",
    "JobEventRow",
    "JobRow",
    "JobTaskRow",
    "SettingsAudit",
    "UTCDateTime",
    "create_engine",
    "database_url",
    "dump_json",
    "head_revision",
    "install_queue_schema",
    "is_postgres",
    "is_sqlite",
    "libpq_url",
    "normalize_url",
    "revisions",
    "upgrade_queue_schema",
    "upgrade_sql",
    "utcnow",
]
