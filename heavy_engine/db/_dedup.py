"""Durable "seen this event already?" checks for platforms that retry deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ._base import utcnow
from ._database import Database
from ._tables import ProcessedEvent


async def claim_event(
    db: Database, platform: str, event_id: str, *, now: datetime | None = None
) -> bool:
    """True the first time `(platform, event_id)` is claimed, False ever after."""
    # The primary key decides, so two processes racing on one event cannot both win.
    try:
        async with db.session() as session, session.begin():
            session.add(ProcessedEvent(platform=platform, event_id=event_id,
                                       created_at=now or utcnow()))
    except IntegrityError:
        return False
    return True


async def prune_events(
    db: Database, older_than_days: float, *, now: datetime | None = None
) -> int:
    """Forget events claimed more than `older_than_days` ago; returns how many were removed."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    async with db.session() as session, session.begin():
        result = await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.created_at < cutoff)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
