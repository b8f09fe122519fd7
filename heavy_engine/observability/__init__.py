"""Logs, metrics and secret redaction for the heavy service.

The metrics (prometheus_client) load on first use: the CLI redacts its log lines without them
(`heavy ask` draws its first frame sooner).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports as _exports
from ._logging import JsonFormatter, RedactingFormatter, configure_logging, job_id_var
from ._redact import MASK, SECRET_ENV, add_env_secrets, add_secret, redact

if TYPE_CHECKING:
    from ._heavy import Metrics
    from ._metrics import CONTENT_TYPE, MetricSet, Series

_LAZY = {"Metrics": "_heavy", "CONTENT_TYPE": "_metrics", "MetricSet": "_metrics",
         "Series": "_metrics"}

__all__ = [
    "CONTENT_TYPE",
    "MASK",
    "SECRET_ENV",
    "JsonFormatter",
    "MetricSet",
    "Metrics",
    "RedactingFormatter",
    "Series",
    "add_env_secrets",
    "add_secret",
    "configure_logging",
    "job_id_var",
    "redact",
]


__getattr__, __dir__ = _exports(__name__, _LAZY)
