"""Jobs: what front ends hand over, how a job is stored, admitted, run and finished.

A front end builds a `JobSpec` and calls `runner.submit(spec)` (see `_contract`). Running a job
is written once; the local backend keeps everything in-process on SQLite, the distributed one
shares the work between replicas on PostgreSQL through procrastinate.
"""

from __future__ import annotations

from ._access import may_ask
from ._contract import (
    FINAL_STATUSES,
    Adapter,
    AdapterFactory,
    ConfigResolver,
    Delivery,
    FollowItem,
    Job,
    JobRejected,
    JobRunner,
    JobSpec,
    JobStatus,
    RejectReason,
    Services,
)
from ._history import BudgetLeft, Exchange, JobHistory, PastJob, answered
from ._limits import spent_today
from ._local import DurableRunner
from ._runner import Runner
from ._store import JobStore
from ._views import job_view

__all__ = [
    "FINAL_STATUSES",
    "Adapter",
    "AdapterFactory",
    "BudgetLeft",
    "ConfigResolver",
    "Delivery",
    "DurableRunner",
    "Exchange",
    "FollowItem",
    "Job",
    "JobHistory",
    "JobRejected",
    "JobRunner",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "PastJob",
    "RejectReason",
    "Runner",
    "Services",
    "answered",
    "job_view",
    "may_ask",
    "spent_today",
]
