"""Settings tables take any platform name: an adapter plugin needs no migration of its own.

Revision ID: 0003_platform_free
Revises: 0002_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_platform_free"
down_revision: str | None = "0002_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATFORM_CHECK = "platform IN ('slack', 'discord')"


def _tables(checked: bool) -> list[sa.Table]:
    """Both tables as 0001 made them (with the CHECK) or as they are after this revision.

    Given to batch mode as `copy_from`, so SQLite's copy-and-move needs no reflection and
    `heavy db upgrade --sql` can print it.
    """
    meta = sa.MetaData()

    def check(table: str) -> list[sa.CheckConstraint]:
        return [sa.CheckConstraint(_PLATFORM_CHECK, name=f"ck_{table}_platform")] if checked else []

    settings = sa.Table(
        "channel_settings", meta,
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "channel", name="pk_channel_settings"),
        *check("channel_settings"),
    )
    audit = sa.Table(
        "settings_audit", meta,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settings_audit"),
        sa.Index("ix_settings_audit_scope", "platform", "workspace", "channel", "id"),
        *check("settings_audit"),
    )
    return [settings, audit]


def upgrade() -> None:
    for table in _tables(checked=True):
        # Batch mode: SQLite cannot drop a constraint in place, so the table is copied.
        with op.batch_alter_table(table.name, copy_from=table) as batch:
            batch.drop_constraint(op.f(f"ck_{table.name}_platform"), type_="check")


def downgrade() -> None:
    # Rows of other platforms cannot satisfy the old rule: they go, with the scopes they form.
    for table in _tables(checked=False):
        op.execute(sa.text(f"DELETE FROM {table.name} WHERE NOT ({_PLATFORM_CHECK})"))
        with op.batch_alter_table(table.name, copy_from=table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table.name}_platform"),
                                          sa.text(_PLATFORM_CHECK))
