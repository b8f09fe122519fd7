"""The job runner: where front ends hand over questions. See `_contract` for the interface."""

from __future__ import annotations

from ._access import may_ask
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
from ._memory import InMemoryRunner
from ._runner import DurableRunner
from ._store import JobStore

__all__ = [
    "FINAL_STATUSES",
    "Adapter",
    "AdapterFactory",
    "ConfigResolver",
    "Delivery",
    "DurableRunner",
    "InMemoryRunner",
    "Job",
    "JobRejected",
    "JobRunner",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "RejectReason",
    "Services",
    "may_ask",
]
