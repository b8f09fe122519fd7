"""Slack installations (bot tokens encrypted), OAuth states, assistant-thread contexts.

Revision ID: 0006_slack_installs
Revises: 0002_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_slack_installs"
down_revision: str | None = "0005_distributed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_installs",
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("team_name", sa.String(200), nullable=True),
        sa.Column("app_id", sa.String(64), nullable=True),
        sa.Column("bot_id", sa.String(64), nullable=False),
        sa.Column("bot_user_id", sa.String(64), nullable=False),
        sa.Column("bot_scopes", sa.Text(), nullable=False),
        sa.Column("bot_token", sa.Text(), nullable=False),
        sa.Column("installer", sa.String(64), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", "team_id", name=op.f("pk_slack_installs")),
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_slack_oauth_states")),
    )
    op.create_index(op.f("ix_slack_oauth_states_expires_at"), "slack_oauth_states",
                    ["expires_at"])
    op.create_table(
        "slack_assistant_threads",
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("thread_ts", sa.String(64), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "thread_ts", name=op.f("pk_slack_assistant_threads")),
    )
    op.create_index(op.f("ix_slack_assistant_threads_updated_at"), "slack_assistant_threads",
                    ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_assistant_threads_updated_at"),
                  table_name="slack_assistant_threads")
    op.drop_table("slack_assistant_threads")
    op.drop_index(op.f("ix_slack_oauth_states_expires_at"), table_name="slack_oauth_states")
    op.drop_table("slack_oauth_states")
    op.drop_table("slack_installs")
