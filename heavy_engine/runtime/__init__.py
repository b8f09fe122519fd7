"""The job runner: where front ends hand over questions. See `_contract` for the interface."""

from __future__ import annotations

from ._contract import (
    FINAL_STATUSES,
    Adapter,
    AdapterFactory,
    ConfigResolver,
    Delivery,
    Job,
    JobRejected,
    JobRunner,
    JobSpec,
    JobStatus,
    RejectReason,
    Services,
)
from ._history import BudgetLeft, JobHistory, PastJob
from ._memory import InMemoryRunner
from ._runner import DurableRunner
from ._store import JobStore

__all__ = [
    "FINAL_STATUSES",
    "Adapter",
    "AdapterFactory",
    "BudgetLeft",
    "ConfigResolver",
    "Delivery",
    "DurableRunner",
    "InMemoryRunner",
    "Job",
    "JobHistory",
    "JobRejected",
    "JobRunner",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "PastJob",
    "RejectReason",
    "Services",
]
