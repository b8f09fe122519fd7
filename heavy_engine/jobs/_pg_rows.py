"""A running job's row on PostgreSQL: each change one statement, announced to its followers.

A change of a `jobs` row can carry the run's last events (`Tail`: those not written while the
job was followed, its `done` event last), appended to `job_events` in the same statement, so
a worker killed in between leaves a job that runs again, never one answered twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..core import Event
from ..db import JobRow, dump_json
from ._direct import Direct, json
from ._events_log import CHANNEL
from ._manager import UPDATE

# A run's events not yet stored, with the number of the first and the attempt: the last is
# always its `done` event, stored with the job's outcome.
Tail = tuple[int, int, list[Event]] | None
_COLUMNS = frozenset(JobRow.__table__.columns.keys())


class RowWriter:
    def __init__(self, direct: Direct, clock: Callable[[], datetime]) -> None:
        self._direct = direct
        self._clock = clock

    async def set(self, job_id: str, tail: Tail = None, **values: Any) -> None:
        """Update the job (and append its last events, `tail`, in the same statement) and
        notify its followers: one statement, one round trip."""
        ctes, params = self.update(job_id, tail, values)
        await self._direct.one(UPDATE.format(ctes=ctes), params)

    def update(self, job_id: str, tail: Tail, values: dict[str, Any]
               ) -> tuple[str, dict[str, Any]]:
        """`set`'s update as WITH items (the last, `changed`, returns the row's id) and their
        parameters (for `QueueManager.end_with`)."""
        assert values and _COLUMNS.issuperset(values), values  # names from this package only
        sets = ", ".join(f"{name} = %({name})s" for name in values)
        params: dict[str, Any] = {
            name: json(v) if name == "result" and v is not None else v
            for name, v in values.items()}
        append = ""
        if tail is not None and tail[2]:
            first, attempt, events = tail
            append = ("appended AS (INSERT INTO job_events (job_id, seq, attempt, type, data, at) "
                      "SELECT %(job_id_)s, r.seq, %(attempt_)s, r.type, r.data, %(at_)s "
                      "FROM json_to_recordset(CAST(%(rows_)s AS json)) "
                      "AS r(seq integer, type varchar, data json)), ")
            params.update(attempt_=attempt, at_=self._clock(), rows_=dump_json([
                {"seq": first + i, "type": event.type, "data": event.as_dict()}
                for i, event in enumerate(events)]))
        return (f"{append}changed AS (UPDATE jobs SET {sets} WHERE id = %(job_id_)s "
                "RETURNING id)", {**params, "job_id_": job_id, "channel_": CHANNEL})
