"""Jobs: what front ends hand over, how a job is stored, admitted, run and finished.

A front end builds a `JobSpec` and calls `runner.submit(spec)` (see `_contract`). Running a job
is written once; the local backend keeps everything in-process on SQLite, the distributed one
shares the work between replicas on PostgreSQL through procrastinate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports as _exports
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
from ._finish import storable
from ._history import BudgetLeft, Exchange, JobHistory, PastJob, answered
from ._limits import spent_today, start_of_day
from ._local import DurableRunner
from ._runner import Runner
from ._store import JobStore
from ._views import job_view, list_view

if TYPE_CHECKING:
    from ._distributed import DistributedRunner

# The PostgreSQL backend loads on first use (PEP 562): procrastinate and psycopg come with the
# `postgres` extra, absent from an embedded (SQLite) install.
_LAZY = {"DistributedRunner": "_distributed"}

__all__ = [
    "FINAL_STATUSES",
    "Adapter",
    "AdapterFactory",
    "BudgetLeft",
    "ConfigResolver",
    "Delivery",
    "DistributedRunner",
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
    "list_view",
    "may_ask",
    "spent_today",
    "start_of_day",
    "storable",
]


__getattr__, __dir__ = _exports(__name__, _LAZY)
