"""heavy's database: SQLAlchemy 2 async models, the `Database` handle and Alembic helpers.

Invariant: the schema changes only through migrations in `migrations/` (append-only revisions).
SQLite, the embedded default, is migrated by `Database.open()`; other backends by
`heavy db upgrade`.
"""

from __future__ import annotations

from ._base import Base, UTCDateTime, utcnow
from ._dedup import claim_event, prune_events
from ._engine import DEFAULT_URL, URL_ENV, Database, create_engine, database_url, is_sqlite
from ._migrate import MIGRATIONS_DIR, alembic_config, current, downgrade, head_revision, upgrade
from ._tables import PLATFORMS, ChannelSettings, ProcessedEvent, SettingsAudit
from ._urls import is_postgres, libpq_url, normalize_url

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "PLATFORMS",
    "URL_ENV",
    "Base",
    "ChannelSettings",
    "Database",
    "ProcessedEvent",
    "SettingsAudit",
    "UTCDateTime",
    "alembic_config",
    "claim_event",
    "create_engine",
    "current",
    "database_url",
    "downgrade",
    "head_revision",
    "is_postgres",
    "is_sqlite",
    "libpq_url",
    "normalize_url",
    "prune_events",
    "upgrade",
    "utcnow",
]
