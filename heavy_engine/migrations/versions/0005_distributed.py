"""Distributed runner: job events (replayed by any replica) and each job's queue task.

Revision ID: 0005_distributed
Revises: 0002_jobs
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_distributed"
down_revision: str | None = "0004_reply_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_events",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_events")),
    )
    op.create_table(
        "job_tasks",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_tasks")),
    )


def downgrade() -> None:
    op.drop_table("job_tasks")
    op.drop_table("job_events")
