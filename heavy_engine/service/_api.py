"""The HTTP API for scripts and other front ends: ask, follow (JSON or SSE) and cancel jobs.

Every route needs `Authorization: Bearer $HEAVY_API_TOKEN`. With no token configured the API
answers only clients on the loopback interface (a laptop's `curl`), and refuses others,
including anything relayed by a reverse proxy (it connects from loopback for anyone); see
`_intake`, which the OpenAI-compatible endpoint and MCP over HTTP share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any

from aiohttp import web

from ..core._config import MAX_AGENTS
from ..jobs import FINAL_STATUSES, Job, JobRunner, JobSpec, job_view
from ..jobs._finish import storable
from ..jobs._views import list_view
from ._intake import (
    Refusal,
    caller_refusal,
    idempotency_key,
    submit_job,
    with_heartbeats,
)

log = logging.getLogger("heavy.http")

MAX_BODY_BYTES = 1024 * 1024
_ASK_FIELDS = {"question", "agents", "rounds", "user"}
RECENT_JOBS = 20  # what GET /api/jobs lists


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _refused(refusal: Refusal) -> web.Response:
    extra = {"reason": refusal.reason} if refusal.reason else {}
    return web.json_response({"error": refusal.message, **extra}, status=refusal.status,
                             headers=refusal.headers)


class Api:
    def __init__(self, runner: JobRunner, token: str | None) -> None:
        self.runner = runner
        self.token = token or None
        self.recent: deque[str] = deque(maxlen=RECENT_JOBS)  # ids asked here, newest last

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/ask", self.ask),
            web.get("/api/jobs", self.list_jobs),
            web.get("/api/jobs/{id}", self.get_job),
            web.delete("/api/jobs/{id}", self.cancel),
        ]

    def _refusal(self, request: web.Request) -> web.Response | None:
        refusal = caller_refusal(request, self.token)
        return None if refusal is None else _refused(refusal)

    async def submit(self, request: web.Request | None, spec: JobSpec) -> Job | Refusal:
        """Submit `spec` for `request` (its `Idempotency-Key` honoured) and list the job in
        `GET /api/jobs`: how every HTTP surface asks (the API, OpenAI, MCP: no request)."""
        if request is not None:
            key = idempotency_key(request, self.token, spec.user)
            if isinstance(key, Refusal):
                return key
            spec.dedup_key = key
        job = await submit_job(self.runner, spec)
        if isinstance(job, Job):
            if job.id in self.recent:
                self.recent.remove(job.id)
            self.recent.append(job.id)
        return job

    async def ask(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        try:
            body = _json_body(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return _error(400, f"The request is too large; the limit is {MAX_BODY_BYTES:,} "
                               "bytes.")
        except ValueError as err:
            return _error(400, str(err))
        spec_or_error = _parse_ask(body)
        if isinstance(spec_or_error, str):
            return _error(400, spec_or_error)
        spec = spec_or_error
        job = await self.submit(request, spec)
        if isinstance(job, Refusal):
            return _refused(job)
        return web.json_response(
            {"id": job.id, "status": job.status,
             "position": job.position if job.status == "queued" else None,
             "url": f"/api/jobs/{job.id}"}, status=202)

    async def list_jobs(self, request: web.Request) -> web.Response:
        """The jobs asked through this server's API since it started, newest first."""
        if (refused := self._refusal(request)) is not None:
            return refused
        jobs = []
        for job_id in reversed(self.recent):
            job = await self.runner.get_job(job_id)
            if job is not None:
                jobs.append(list_view(job))
        return web.json_response({"jobs": jobs})

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refusal(request)) is not None:
            return refused
        job = await self.runner.get_job(request.match_info["id"])
        if job is None:
            return _error(404, "No job with this id.")
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._stream(request, job.id)
        return web.json_response(storable(job_view(job)))  # the same text as stored

    async def cancel(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        job_id = request.match_info["id"]
        job = await self.runner.get_job(job_id)
        if job is None:
            return _error(404, "No job with this id.")
        if job.status in FINAL_STATUSES:
            return _error(409, f"The job is already {job.status}.", job_status=job.status)
        if not await self.runner.cancel(job_id):
            return _error(409, "The job could not be cancelled (it is finishing).")
        return web.json_response({"id": job_id, "cancelled": True})

    async def _stream(self, request: web.Request, job_id: str) -> web.StreamResponse:
        """SSE: `status` events while queued, the run's own events, then a final `status`."""
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})  # nginx: do not buffer the stream
        await resp.prepare(request)
        sse = _Sse(resp)
        try:
            follow = self.runner.follow(job_id, _last_event_id(request))
            async for seq, kind, data in with_heartbeats(follow, sse.comment):
                await sse.send(kind, data, seq=seq)
        except ConnectionResetError:
            pass
        except Exception:
            # The headers are sent: no error response can follow, so end the stream with an
            # `error` event (the error middleware would write a second response into it).
            reference = uuid.uuid4().hex[:12]
            log.exception("the event stream of job %s failed (reference %s)", job_id,
                          reference)
            with contextlib.suppress(ConnectionResetError):
                await sse.send("error", {"error": f"The stream failed (reference {reference}); "
                                                  "ask for the job again.",
                                         "reference": reference})
        return resp


class _Sse:
    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp
        self.seq = 0

    async def send(self, event: str, data: dict[str, Any], *, seq: int | str | None = "") -> None:
        """`seq`: the event's stored number (None: no id line); by default one counted here."""
        if seq == "":
            self.seq += 1
            seq = self.seq
        # storable: a lone surrogate in an agent's text must not end the stream half-way.
        payload = json.dumps(storable(data), ensure_ascii=False)
        head = "" if seq is None else f"id: {seq}\n"
        await self.resp.write(f"{head}event: {event}\ndata: {payload}\n\n".encode())

    async def comment(self) -> None:
        await self.resp.write(b": keep-alive\n\n")


def _last_event_id(request: web.Request) -> int:
    """The SSE `Last-Event-ID` a reconnecting client sends (0 when absent or not a number)."""
    value = request.headers.get("Last-Event-ID", "").strip()
    return int(value) if value.isdigit() else 0


def _json_body(raw: bytes) -> Any:
    """The parsed body, or `ValueError` saying why it is not acceptable JSON."""
    usage = 'The body must be JSON: {"question": "...", "agents": N}.'
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{usage} It is not UTF-8.") from None
    except RecursionError:
        raise ValueError("The body is nested too deeply to be a question.") from None
    except ValueError as err:  # JSONDecodeError, or an integer of thousands of digits
        raise ValueError(f"{usage} ({str(err)[:100]})") from None


def _not_unicode(value: str) -> bool:
    """True for text that cannot be stored: it holds a lone surrogate (JSON allows `\\ud800`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parse_ask(body: Any) -> JobSpec | str:
    """A `JobSpec` from the `POST /api/ask` body, or why the body is wrong."""
    if not isinstance(body, dict):
        return 'The body must be a JSON object: {"question": "...", "agents": N}.'
    unknown = sorted(set(body) - _ASK_FIELDS)
    if unknown:
        return f"Unknown field(s): {', '.join(unknown)}. Allowed: agents, question, rounds, user."
    question = body.get("question")
    if not isinstance(question, str):
        return "question is required and must be a string."
    if not question.strip():
        return 'question is empty: send {"question": "your question"}.'
    if _not_unicode(question):
        return "question is not valid Unicode: it holds a lone surrogate such as \\ud800."
    flags: dict[str, Any] = {}
    agents = body.get("agents")
    if agents is not None:
        if agents != "auto" and (isinstance(agents, bool) or not isinstance(agents, int) or not (
                1 <= agents <= MAX_AGENTS)):
            return f'agents must be a whole number from 1 to {MAX_AGENTS}, or "auto".'
        flags["agents"] = agents
    rounds = body.get("rounds")
    if rounds is not None:
        if isinstance(rounds, bool) or rounds not in (1, 2):
            return "rounds must be 1 or 2 (2: the agents compare notes before the synthesis)."
        flags["rounds"] = rounds
    user = body.get("user", "api")
    if not isinstance(user, str) or not user.strip() or len(user) > 200:
        return "user must be a non-empty string of at most 200 characters."
    if _not_unicode(user):
        return "user is not valid Unicode: it holds a lone surrogate such as \\ud800."
    return JobSpec(platform="api", workspace="", channel="api", user=user.strip(),
                   question=question, flags=flags)
