"""The job record carries who stopped it; event de-duplication is the jobs' dedup key alone.

`jobs.stopped_by` is written by `runner.cancel(job_id, by=...)`. The `processed_events` table
(Slack event ids, pruned daily) goes: a retried event finds its job by `(platform, dedup_key)`.

Revision ID: 0004_reply_ledger
Revises: 0002_jobs
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_reply_ledger"
down_revision: str | None = "0003_platform_free"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("stopped_by", sa.String(200), nullable=True))
    op.drop_index(op.f("ix_processed_events_created_at"), table_name="processed_events")
    op.drop_table("processed_events")


def downgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_index(op.f("ix_processed_events_created_at"), "processed_events",
                    ["created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("stopped_by")
