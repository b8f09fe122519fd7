"""Whether the database can be written, from the outcome of the last write (no write per probe).

`WriteHealth.watch(engine)` listens to the engine itself: a commit marks the database writable,
an `OperationalError` on a write or a commit (locked past the busy timeout, disk full, I/O
error) marks it not. While it is not, `probe` tries one empty write at most every
`PROBE_INTERVAL_S` (counted from the failure), so a service whose `/healthz` keeps traffic away can still recover.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("heavy.runtime")
PROBE_INTERVAL_S = 5.0
RETRY_AFTER_S = 5  # what a 503 caused by the database tells the client
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "COMMIT", "BEGIN")


class WriteHealth:
    def __init__(self) -> None:
        self.writable = True
        self.error: str | None = None
        self._probed = 0.0

    @classmethod
    def watch(cls, engine: AsyncEngine) -> WriteHealth:
        health = cls()
        event.listen(engine.sync_engine, "commit", health._committed)
        event.listen(engine.sync_engine, "handle_error", health._failed)
        return health

    def _committed(self, _conn: Any) -> None:
        # Fired just before the commit; a failing commit then reports through `_failed`.
        self.writable, self.error = True, None

    def _failed(self, ctx: ExceptionContext) -> None:
        if not isinstance(ctx.sqlalchemy_exception, OperationalError):
            return  # a constraint or a programming error says nothing about the disk
        statement = (ctx.statement or "COMMIT").lstrip().split(None, 1)
        if statement and statement[0].upper() in _WRITES:
            if self.writable:
                log.warning("the database cannot be written: %s", ctx.original_exception)
            self.writable, self.error = False, str(ctx.original_exception)
            self._probed = time.monotonic()  # the first probe comes an interval later

    async def probe(self, engine: AsyncEngine) -> None:
        """One empty write, when not writable and none was tried in the last interval."""
        now = time.monotonic()
        if self.writable or now - self._probed < PROBE_INTERVAL_S:
            return
        self._probed = now
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("UPDATE jobs SET id = id WHERE 1 = 0")
        except OperationalError:
            pass  # recorded by `_failed`
