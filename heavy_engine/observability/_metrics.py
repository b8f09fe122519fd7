"""prometheus_client metrics kept in a per-instance `CollectorRegistry` (no global state).

`Series` wraps one metric so callers pass labels as keywords (`inc(platform="slack")`); a
missing or unknown label, or a negative count, raises `ValueError` as prometheus_client does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the format `render` writes
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Series:
    """One metric (with or without labels), fed with labels as keyword arguments.

    The child of each label set is kept once prometheus_client has checked the labels: its
    `labels()` (validation, a lock, a tuple) ran several times per job, ~1% of the CPU of
    `heavy serve` at 1,000 concurrent questions. Label sets are few (platforms, statuses,
    models), and prometheus_client keeps each child for good anyway.
    """

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[tuple[str, str], ...], Any] = {}

    def _child(self, labels: dict[str, str]) -> Any:
        if not labels:
            return self.metric
        key = tuple(labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metric.labels(**labels)
        return child

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)

    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)


class MetricSet:
    """A `CollectorRegistry` of its own, and factories that add metrics to it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Series:
        return Series(_Counter(name, help_text, labels, registry=self.registry))

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Series:
        return Series(_Gauge(name, help_text, labels, registry=self.registry))

    def histogram(
        self, name: str, help_text: str, labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Series:
        return Series(_Histogram(name, help_text, labels, registry=self.registry,
                                 buckets=buckets))

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry).decode()
