"""A migrated database (SQLite in tmp_path, and PostgreSQL) and a store with a small operator
policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from heavy_engine import HeavyConfig
from heavy_engine.db import Database
from heavy_engine.settings import SettingsStore

ALLOWED = ["a/small", "a/large", "b/fast"]
TOOLS = ["calculate", "web_search", "mark_task_complete"]


def operator_config() -> HeavyConfig:
    return HeavyConfig(model="a/small", allowed_models=ALLOWED, tools=["calculate"],
                       allowed_tools=["calculate", "web_search"])


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's tests run on the embedded SQLite and on a throwaway PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await Database.open(db_url, migrate=True)
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> SettingsStore:
    return SettingsStore(db, operator_config(), known_tools=TOOLS)
