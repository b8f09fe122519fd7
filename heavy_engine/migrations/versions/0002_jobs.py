"""Jobs: one row per question, with its settings snapshot, status, usage and result.

Revision ID: 0002_jobs
Revises: 0001_settings
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_jobs"
down_revision: str | None = "0001_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("thread", sa.String(64), nullable=True),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("llm_calls", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("platform", "dedup_key", name=op.f("uq_jobs_platform_dedup_key")),
    )
    op.create_index(op.f("ix_jobs_status_created"), "jobs", ["status", "created_at"])
    op.create_index(op.f("ix_jobs_channel_created"), "jobs",
                    ["platform", "workspace", "channel", "created_at"])
    op.create_index(op.f("ix_jobs_workspace_created"), "jobs",
                    ["platform", "workspace", "created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_workspace_created"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_channel_created"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_status_created"), table_name="jobs")
    op.drop_table("jobs")
