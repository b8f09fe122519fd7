"""Conversations: a job keeps its extracted attachments; per-user usage is indexed.

Revision ID: 0007_conversations
Revises: 0002_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_conversations"
down_revision: str | None = "0006_slack_installs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
    op.create_index(op.f("ix_jobs_requester_created"), "jobs",
                    ["platform", "requester", "created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_requester_created"), table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attachments")
