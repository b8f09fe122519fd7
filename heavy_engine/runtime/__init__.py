"""The job runner: where front ends hand over questions. See `_contract` for the interface."""

from __future__ import annotations

from ._access import may_ask
from ._adapters import load_adapters
from ._api import Api
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
from ._http import READY, build_app
from ._listen import connection_options, listen
from ._models import JobRow
from ._roles import ROLES, Role, build_runner
from ._runner import DurableRunner
from ._store import JobStore
from ._views import job_view

__all__ = [
    "FINAL_STATUSES",
    "READY",
    "ROLES",
    "Adapter",
    "AdapterFactory",
    "Api",
    "BudgetLeft",
    "ConfigResolver",
    "Delivery",
    "DurableRunner",
    "Job",
    "JobHistory",
    "JobRejected",
    "JobRow",
    "JobRunner",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "PastJob",
    "RejectReason",
    "Role",
    "Services",
    "build_app",
    "build_runner",
    "connection_options",
    "job_view",
    "listen",
    "load_adapters",
    "may_ask",
]
