"""The `jobs` table (Alembic revisions 0002_jobs, 0004_reply_ledger): one row per question, written before any
side effect, updated as the job moves through its statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, UTCDateTime


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # NULL dedup keys never collide, so only keyed submissions are deduplicated.
        UniqueConstraint("platform", "dedup_key", name="uq_jobs_platform_dedup_key"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_channel_created", "platform", "workspace", "channel", "created_at"),
        Index("ix_jobs_workspace_created", "platform", "workspace", "created_at"),
        Index("ix_jobs_requester_created", "platform", "requester", "created_at"),  # 0007
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    thread: Mapped[str | None] = mapped_column(String(64))
    requester: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[dict[str, Any]] = mapped_column(JSON)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(255))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # the resolved settings snapshot
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stopped_by: Mapped[str | None] = mapped_column(String(200))  # who cancelled it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # RunResult.as_dict() + answers
    # The question's files, extracted (revision 0007): text, images (base64), notes.
    attachments: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feedback: Mapped[str | None] = mapped_column(String(8))  # "good" / "bad", from the chat
