"""The first steps of every runner's `submit`, written once for the in-process and the
distributed runner."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from ..core import validate_question
from ..observability import Metrics
from ._contract import ConfigResolver, Job, JobRejected, JobSpec
from ._store import JobStore

log = logging.getLogger("heavy.runtime")


async def new_job(spec: JobSpec, *, accepting: bool, metrics: Metrics, store: JobStore,
                  resolve: ConfigResolver, clock: Callable[[], datetime]) -> Job | None:
    """Refuse while stopping, drop a duplicate event (None), resolve the settings and check the
    question: the job to admit, not yet recorded."""
    if not accepting:
        metrics.jobs_rejected.inc(platform=spec.platform, reason="shutting_down")
        raise JobRejected("heavy is restarting; please ask again in a minute.", "shutting_down")
    if spec.dedup_key is not None and await store.seen(spec.platform, spec.dedup_key):
        return None
    config = await resolve(spec)
    spec.question = validate_question(spec.question, config)
    return Job(id=uuid.uuid4().hex[:16], spec=spec, config=config, created_at=clock())


def refused(metrics: Metrics, job: Job, refusal: JobRejected) -> JobRejected:
    """Count and log a refusal (the caller raises it to the asker)."""
    metrics.jobs_rejected.inc(platform=job.spec.platform, reason=refusal.reason)
    log.info("job %s refused (%s)", job.id, refusal.reason)
    return refusal


def accepted(metrics: Metrics, job: Job) -> Job:
    """Count and log an accepted job."""
    metrics.jobs_submitted.inc(platform=job.spec.platform)
    log.info("job %s from %s: %s", job.id, job.spec.platform,
             f"queued at position {job.position}" if job.position else "starting")
    return job
