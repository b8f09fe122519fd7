"""The `Database` handle: the database URL, the SQLAlchemy engine with SQLite pragmas, and
migrations (`upgrade`, `downgrade`, `current`: the one way to change the schema)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import StaticPool

from ._json import dumps, loads
from ._migrate import current_revision, head_revision, run_migrations
from ._urls import normalize_url

log = logging.getLogger(__name__)

URL_ENV = "HEAVY_DATABASE_URL"
DEFAULT_URL = "sqlite+aiosqlite:///./data/heavy.db"
BUSY_TIMEOUT_MS = 10_000
POOL_SIZE = 20  # PostgreSQL connections per process (jobs/_direct.py has the queue's own)


def database_url(url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """`url`, else `$HEAVY_DATABASE_URL`, else a SQLite file under ./data/."""
    env = os.environ if env is None else env
    return normalize_url(url or env.get(URL_ENV) or DEFAULT_URL)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout makes writers queue
    # for the lock instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under WAL, NORMAL syncs at checkpoints, not at every commit: a commit survives a crash
    # or kill -9 of the process (only a power loss can take the last ones back).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str | None = None) -> AsyncEngine:
    """An async engine for `url`; for SQLite it creates the file's folder and sets pragmas."""
    url = database_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            # One shared connection, or every session would see its own empty database.
            kwargs["poolclass"] = StaticPool
        else:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # One connection per process: SQLite has one writer anyway, and with several, a
            # connection's worker thread can sit in the busy handler holding its handle's
            # mutex while the garbage collector finalizes one of its statements on the event
            # loop thread, which then blocks until the busy timeout (the lock holder needs
            # that loop to commit). Other processes still wait on the busy timeout.
            kwargs.update(pool_size=1, max_overflow=0)
    elif parsed.get_backend_name() == "postgresql":
        # No overflow: SQLAlchemy closes an overflow connection when it is returned, so every
        # burst opened them again (a server process forked per connection, ~8% of a replica's
        # CPU under bench/replicas.py); past 20 a session waits for a free connection instead.
        # (A worker's per-job statements use the job queue's pool: jobs/_direct.py.)
        kwargs.update(pool_size=POOL_SIZE, max_overflow=0)
    engine = _create_async_engine(url, json_serializer=dumps, json_deserializer=loads, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An `AsyncEngine` plus its session factory. Open with `await Database.open()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Reads on PostgreSQL: each statement is its own transaction, no BEGIN and ROLLBACK
        # round trips around it (`reads`).
        self._autocommit = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)

    @classmethod
    async def open(cls, url: str | None = None, *, migrate: bool | None = None) -> Database:
        """Connect; SQLite (the embedded default) is migrated to head unless `migrate=False`.

        Other backends are migrated by the operator (`heavy db upgrade`), so several bot
        processes never race to change a shared schema.
        """
        url = database_url(url)
        db = cls(create_engine(url))
        if migrate is None:
            migrate = is_sqlite(url)
        if migrate:
            try:
                await db.upgrade()
            except BaseException:
                await db.close()
                raise
        return db

    async def warm(self) -> int:
        """Open the PostgreSQL pool's connections now, at start-up, rather than in the first
        burst of questions: each is a server process forked, and that burst opened ~16 per
        replica in bench/replicas.py. Returns how many opened; one that cannot (the server's
        `max_connections`, say) is logged, and opened on demand later as before."""
        if self.engine.dialect.name != "postgresql":
            return 0
        opened = await asyncio.gather(*(self.engine.connect().start() for _ in range(POOL_SIZE)),
                                      return_exceptions=True)
        errors = [err for err in opened if isinstance(err, BaseException)]
        for conn in opened:
            if not isinstance(conn, BaseException):
                await conn.close()  # back to the pool, which keeps it
        for err in errors:
            if not isinstance(err, Exception):
                raise err  # cancelled
        if errors:
            log.warning("opened %d of %d database connections at start-up: %s",
                        POOL_SIZE - len(errors), POOL_SIZE, errors[0])
        return POOL_SIZE - len(errors)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> AsyncSession:
        return self.sessions()

    def reads(self) -> AsyncSession:
        """A session that only reads: autocommit on PostgreSQL (no BEGIN and ROLLBACK round
        trips around it), the usual session on SQLite (in-process, nothing to save)."""
        if self.engine.dialect.name == "postgresql":
            return self._autocommit()
        return self.sessions()

    async def upgrade(self, revision: str = "head") -> None:
        """Run the packaged Alembic migrations up to `revision`."""
        await run_migrations(self.engine, revision)

    async def downgrade(self, revision: str) -> None:
        """Run the migrations down to `revision` ("base" empties the schema)."""
        await run_migrations(self.engine, revision, down=True)

    async def current(self) -> str | None:
        """The database's Alembic revision, None when never migrated."""
        return await current_revision(self.engine)

    async def outdated(self) -> str | None:
        """Why the schema is not the code's (with the command that fixes it), or None."""
        revision, head = await self.current(), head_revision()
        if revision == head:
            return None
        return (f"the database is at revision {revision or 'none'}, not {head}: "
                "run `heavy db upgrade`")

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
