"""Admission returns the job (PostgreSQL): `heavy_admit_job()` reads the job's row, admits it
through `heavy_admit()` (0009, the one admission), and returns the row, so a worker starts a
job in one round trip instead of a read through SQLAlchemy followed by the admission.

Its per-requester and per-channel limits come from the job's settings snapshot (`config`),
where the worker read them before; a snapshot without a number there falls back to the
caller's. Replicas of the previous release keep calling `heavy_admit()` during a rollout.

Revision ID: 0010_admit_job
Revises: 0009_admission
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_admit_job"
down_revision: str | None = "0009_admission"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The row comes back as it is after the call: `running` when admitted (a job already running
# is a retry after a crash and keeps its place), `queued` or `interrupted` when it must wait,
# a final status when it is over, no row when there is no such job. A finished job takes no
# lock. Each statement of a VOLATILE PL/pgSQL function takes a new snapshot (READ COMMITTED),
# so the row read after `heavy_admit()` is the one it left.
ADMIT_JOB = """
CREATE OR REPLACE FUNCTION heavy_admit_job(
    p_id varchar, p_now timestamptz, p_max integer, p_per_user integer, p_per_channel integer
) RETURNS SETOF jobs LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    j jobs;
    per_user integer := p_per_user;
    per_channel integer := p_per_channel;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF j.status NOT IN ('queued', 'running', 'interrupted') THEN
        RETURN NEXT j;
        RETURN;
    END IF;
    IF json_typeof(j.config -> 'limits' -> 'per_user') = 'number' THEN
        per_user := (j.config -> 'limits' ->> 'per_user')::numeric::integer;
    END IF;
    IF json_typeof(j.config -> 'limits' -> 'per_channel') = 'number' THEN
        per_channel := (j.config -> 'limits' ->> 'per_channel')::numeric::integer;
    END IF;
    -- the one admission (0009): the lock, the counts, the update and its notification
    PERFORM heavy_admit(p_id, p_now, j.platform, j.workspace, j.requester, j.channel, p_max,
                        per_user, per_channel);
    -- as it is now: running when admitted; else no room yet, or cancelled meanwhile
    RETURN QUERY SELECT * FROM jobs WHERE id = p_id;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":  # works with --sql too
        op.execute(ADMIT_JOB)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":  # works with --sql too
        op.execute("DROP FUNCTION IF EXISTS heavy_admit_job(varchar, timestamptz, integer, "
                   "integer, integer)")
