"""The job runner: where front ends hand over questions. See `_contract` for the interface."""

from __future__ import annotations

from ._contract import (
    Adapter,
    AdapterFactory,
    ConfigResolver,
    Delivery,
    Job,
    JobRunner,
    JobSpec,
    JobStatus,
    Services,
)
from ._memory import InMemoryRunner

__all__ = [
    "Adapter",
    "AdapterFactory",
    "ConfigResolver",
    "Delivery",
    "InMemoryRunner",
    "Job",
    "JobRunner",
    "JobSpec",
    "JobStatus",
    "Services",
]
