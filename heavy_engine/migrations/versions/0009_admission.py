"""Admission in one server-side call (PostgreSQL): `heavy_admit()` takes the global admission
lock, starts the job when the running counts leave room and notifies, all inside the database;
partial indexes keep its per-requester and per-channel counts small.

A worker calls it in autocommit, so the lock is held for the function and its commit only. Held
by the client across round trips instead (lock, update, commit), every admission waited for the
slowest event loop holding it: with 3 replicas busy running 300 questions, the lock's mean wait
was 1.3 s and admission dominated the wall time.

Revision ID: 0009_admission
Revises: 0008_feedback
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_admission"
down_revision: str | None = "0008_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each statement of a VOLATILE PL/pgSQL function takes a new snapshot (READ COMMITTED), so the
# counts are read after the lock is granted and see every admission committed before it.
# A job already `running` is a retry after a crash and keeps its place.
ADMIT = """
CREATE OR REPLACE FUNCTION heavy_admit(
    p_id varchar, p_now timestamptz, p_platform varchar, p_workspace varchar,
    p_user varchar, p_channel varchar, p_max integer, p_per_user integer,
    p_per_channel integer
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    admitted integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('heavy.admission'));
    UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = p_now
    WHERE id = p_id AND status IN ('queued', 'running', 'interrupted') AND (
        status = 'running' OR (
            (SELECT count(*) FROM jobs WHERE status = 'running') < p_max
            AND (SELECT count(*) FROM jobs WHERE status = 'running' AND platform = p_platform
                 AND workspace = p_workspace AND requester = p_user) < p_per_user
            AND (SELECT count(*) FROM jobs WHERE status = 'running' AND platform = p_platform
                 AND workspace = p_workspace AND channel = p_channel) < p_per_channel))
    RETURNING attempts INTO admitted;
    IF admitted IS NOT NULL THEN
        PERFORM pg_notify('heavy_jobs', p_id);  -- jobs._events_log.CHANNEL
    END IF;
    RETURN admitted;
END
$$
"""


# The per-requester and per-channel counts read only running jobs: without these, each
# admission scanned every running job twice more (1.5 ms a call with 600 running, under the
# lock). The SQLite runner counts running jobs in memory and needs neither.
RUNNING_INDEXES = {
    "ix_jobs_running_requester": "(platform, workspace, requester)",
    "ix_jobs_running_channel": "(platform, workspace, channel)",
}


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":  # works with --sql too
        op.execute(ADMIT)
        for name, columns in RUNNING_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON jobs {columns} WHERE status = 'running'")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":  # works with --sql too
        for name in RUNNING_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP FUNCTION IF EXISTS heavy_admit(varchar, timestamptz, varchar, varchar, "
                   "varchar, varchar, integer, integer, integer)")
