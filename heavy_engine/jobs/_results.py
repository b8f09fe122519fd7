"""Stored results: `RunResult` to JSON and back, and finished `Run`s rebuilt from them.

A job whose run finished before a restart is delivered again from its stored result, so the
model is never asked twice and the front end sees the same `Done` it would have seen.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..attachments import Attachments
from ..core import Accepted, AgentSummary, Done, HeavyRequest, Run, RunResult, Source, Usage
from ._contract import Job


def _usage(data: dict[str, Any] | None) -> Usage:
    data = data or {}
    return Usage(prompt_tokens=int(data.get("prompt_tokens", 0)),
                 completion_tokens=int(data.get("completion_tokens", 0)),
                 cost_usd=float(data.get("cost_usd", 0.0)),
                 cached_tokens=int(data.get("cached_tokens", 0)))  # absent before it was kept


def job_request(job: Job) -> HeavyRequest:
    """What the engine runs for `job`, whichever runner runs it."""
    spec = job.spec
    return HeavyRequest(spec.question, job.config, id=job.id, context=spec.context,
                        requester=spec.user, attachments=Attachments.from_dict(
                            spec.attachments) if spec.attachments else None)


def result_to_dict(result: RunResult) -> dict[str, Any]:
    return result.as_dict()


def result_from_dict(data: dict[str, Any], question: str) -> RunResult:
    """The inverse of `RunResult.as_dict()` (agents' own answers are not stored)."""
    agents = [
        AgentSummary(index=int(a["index"]), question=str(a["question"]), model=str(a["model"]),
                     status=a["status"], iterations=int(a.get("iterations", 0)),
                     elapsed_s=float(a.get("elapsed_s", 0.0)), error=a.get("error"),
                     usage=_usage(a.get("usage")), role=a.get("role"),
                     revised=bool(a.get("revised", False)))
        for a in data.get("agents", [])
    ]
    return RunResult(
        request_id=str(data.get("request_id", "")), question=question,
        status=data.get("status", "failed"), answer=str(data.get("answer", "")),
        questions=list(data.get("questions", [])), agents=agents,
        llm_calls=int(data.get("llm_calls", 0)), elapsed_s=float(data.get("elapsed_s", 0.0)),
        usage=_usage(data.get("usage")), models=list(data.get("models", [])),
        simulated=bool(data.get("simulated", False)), error=data.get("error"),
        notes=list(data.get("notes", [])),
        sources=[Source(str(s["url"]), str(s.get("title", ""))) for s in data.get("sources", [])],
        unverified=list(data.get("unverified", [])), stopped_by=data.get("stopped_by"),
    )


def failed_result(job: Job, error: str) -> RunResult:
    """A result that ends a job without running it, with one sentence for the requester."""
    return RunResult(request_id=job.id, question=job.spec.question, status="failed",
                     error=error)


async def _value(result: RunResult) -> RunResult:
    return result


def replay_run(job: Job, result: RunResult) -> Run:
    """A finished `Run` whose events are `Accepted` then `Done(result)`."""
    request = job_request(job)
    run = Run(request)
    run.emit(Accepted(request_id=job.id, question=job.spec.question,
                      agents=len(result.agents) or job.config.agent_count))
    run.result = result
    run._task = asyncio.get_running_loop().create_task(_value(result))
    run.emit(Done(result=result))
    return run


class StoredResults:
    """Which running jobs have their result stored: the reply pipeline posts no answer before
    (`JobRunner.stored`), so a job retried after a crash replays the very answer whose first
    parts went out, never a new one around them. The delivery runs beside the runner's own
    task, and the run's `Done` reaches both at once: without this, a fast platform took the
    first part before the database took the result."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def begin(self, job: Job) -> None:
        """`job` starts running here; stored already when an earlier attempt stored it."""
        event = self._events[job.id] = asyncio.Event()
        if job.result is not None:
            event.set()

    def done(self, job_id: str) -> None:
        event = self._events.get(job_id)
        if event is not None:
            event.set()

    def end(self, job_id: str) -> None:
        self._events.pop(job_id, None)

    async def wait(self, job_id: str) -> None:
        """Until the result of `job_id` is stored; at once for a job not running here."""
        event = self._events.get(job_id)
        if event is not None:
            await event.wait()
