"""Logs, metrics and secret redaction for the heavy service."""

from __future__ import annotations

from ._heavy import Metrics
from ._logging import JsonFormatter, RedactingFormatter, configure_logging, job_id_var
from ._metrics import CONTENT_TYPE, MetricSet, Series
from ._redact import MASK, add_env_secrets, add_secret, redact

__all__ = [
    "CONTENT_TYPE",
    "MASK",
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
