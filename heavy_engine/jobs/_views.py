"""JSON views of jobs for the HTTP API (pure: a `Job` in, a dict out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._contract import Job


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_view(job: Job) -> dict[str, Any]:
    """Status, answer, usage and per-agent summary; `answer` is null until the run ends."""
    r = job.result
    view: dict[str, Any] = {
        "id": job.id,
        "platform": job.spec.platform,
        "status": job.status,
        "position": job.position if job.status == "queued" else None,
        "question": job.spec.question,
        "created_at": _ts(job.created_at),
        "started_at": _ts(job.started_at),
        "finished_at": _ts(job.finished_at),
        "attempts": job.attempts,
        "answer": r.answer if r else None,
        "error": job.error,
        "usage": r.usage.as_dict() if r else None,
        "llm_calls": r.llm_calls if r else 0,
        "elapsed_s": round(r.elapsed_s, 3) if r else None,
        "models": list(r.models) if r else [],
        "agents": [a.as_dict() for a in r.agents] if r else [],
        "notes": list(r.notes) if r else [],
        "sources": [s.as_dict() for s in r.sources] if r else [],
        "simulated": r.simulated if r else False,
    }
    return view


def status_view(job: Job) -> dict[str, Any]:
    """The small payload of SSE `status` events."""
    return {"id": job.id, "status": job.status,
            "position": job.position if job.status == "queued" else None, "error": job.error}


def list_view(job: Job) -> dict[str, Any]:
    """One line of `GET /api/jobs`."""
    r = job.result
    return {"id": job.id, "status": job.status, "question": job.spec.question[:300],
            "created_at": _ts(job.created_at), "finished_at": _ts(job.finished_at),
            "elapsed_s": round(r.elapsed_s, 3) if r else None}
