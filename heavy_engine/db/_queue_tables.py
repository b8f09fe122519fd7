"""Tables of the distributed runner (Alembic revision 0005_distributed).

`job_events`: every engine event of a job, numbered from 1, written by the worker that runs it,
so any replica can replay a job's progress (SSE `Last-Event-ID` resumes after a number).
`job_tasks`: the procrastinate job that carries each heavy job (to abort it on cancel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, UTCDateTime


class JobEventRow(Base):
    __tablename__ = "job_events"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobTaskRow(Base):
    __tablename__ = "job_tasks"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger)
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
