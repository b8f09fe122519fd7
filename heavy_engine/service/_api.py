"""The HTTP API for scripts and other front ends: ask, follow (JSON or SSE) and cancel jobs.

Every route needs `Authorization: Bearer <token>`: `$HEAVY_API_TOKEN`, or a named token of
`$HEAVY_API_TOKENS_FILE`, whose name is then the caller: its jobs' user, and the only jobs it
sees (`_callers`). With no token configured the API answers only clients on the loopback
interface (a laptop's `curl`), and refuses others, including anything relayed by a reverse
proxy (it connects from loopback for anyone); see `_intake`, which the OpenAI-compatible
endpoint and MCP over HTTP share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any

from aiohttp import web

from ..jobs import FINAL_STATUSES, Job, JobRunner, JobSpec, job_view, list_view, storable
from ._callers import LOCAL, Caller, NamedTokens
from ._intake import (
    KEEP_ALIVE,
    SSE_HEADERS,
    Refusal,
    agents_refusal,
    api_spec,
    idempotency_key,
    identify,
    not_unicode,
    read_json,
    submit_job,
    user_refusal,
    with_heartbeats,
)

log = logging.getLogger("heavy.http")

_USAGE = 'The body must be JSON: {"question": "...", "agents": N}.'
_ASK_FIELDS = {"question", "agents", "rounds", "user"}
RECENT_JOBS = 20  # what GET /api/jobs lists


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _refused(refusal: Refusal) -> web.Response:
    extra = {"reason": refusal.reason} if refusal.reason else {}
    return web.json_response({"error": refusal.message, **extra}, status=refusal.status,
                             headers=refusal.headers)


class Api:
    def __init__(self, runner: JobRunner, token: str | None,
                 named: NamedTokens | None = None) -> None:
        self.runner = runner
        self.token = token or None
        self.named = named if named else None
        # Ids asked here, newest last: all of them (None), and per named token.
        self.recent: dict[str | None, deque[str]] = {None: deque(maxlen=RECENT_JOBS)}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/ask", self.ask),
            web.get("/api/jobs", self.list_jobs),
            web.get("/api/jobs/{id}", self.get_job),
            web.delete("/api/jobs/{id}", self.cancel),
        ]

    def caller(self, request: web.Request) -> Caller | Refusal:
        """Who calls (a named token, the single token, a loopback client), or the refusal:
        every HTTP surface (the API, OpenAI, MCP) asks this first."""
        return identify(request, self.token, self.named)

    async def submit(self, request: web.Request | None, spec: JobSpec,
                     caller: Caller = LOCAL) -> Job | Refusal:
        """Submit `spec` for `caller` and `request` (its `Idempotency-Key` honoured) and list
        the job in `GET /api/jobs`: how every HTTP surface asks (`/mcp`: no request, its
        tool calls carry no `Idempotency-Key`; `heavy mcp` over stdio calls `submit_job`).
        `spec.user` is already the caller's (`Caller.user`)."""
        if request is not None:
            key = idempotency_key(request, caller, spec.user)
            if isinstance(key, Refusal):
                return key
            spec.dedup_key = key
        job = await submit_job(self.runner, spec)
        if isinstance(job, Job):
            lists = [self.recent[None]]
            if caller.name is not None:
                lists.append(self.recent.setdefault(caller.name, deque(maxlen=RECENT_JOBS)))
            for recent in lists:
                if job.id in recent:
                    recent.remove(job.id)
                recent.append(job.id)
        return job

    async def own_job(self, request: web.Request, job_id: str) -> tuple[Caller, Job] | Refusal:
        """The caller and its job `job_id`; 404 for an unknown id and for another named
        caller's job (so an id says nothing about whether it exists)."""
        caller = self.caller(request)
        if isinstance(caller, Refusal):
            return caller
        job = await self.runner.get_job(job_id)
        if job is None or not caller.owns(job):
            return Refusal(404, "No job with this id.")
        return caller, job

    async def ask(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if isinstance(caller, Refusal):
            return _refused(caller)
        try:
            body = await read_json(request, _USAGE)
        except ValueError as err:
            return _error(400, str(err))
        spec_or_error = _parse_ask(body, caller)
        if isinstance(spec_or_error, str):
            return _error(400, spec_or_error)
        spec = spec_or_error
        job = await self.submit(request, spec, caller)
        if isinstance(job, Refusal):
            return _refused(job)
        return web.json_response(
            {"id": job.id, "status": job.status,
             "position": job.position if job.status == "queued" else None,
             "url": f"/api/jobs/{job.id}"}, status=202)

    async def list_jobs(self, request: web.Request) -> web.Response:
        """The jobs asked through this server's API since it started, newest first (a named
        token's own only)."""
        caller = self.caller(request)
        if isinstance(caller, Refusal):
            return _refused(caller)
        jobs = []
        for job_id in reversed(self.recent.get(caller.name, ())):
            job = await self.runner.get_job(job_id)
            if job is not None:
                jobs.append(list_view(job))
        return web.json_response({"jobs": jobs})

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        found = await self.own_job(request, request.match_info["id"])
        if isinstance(found, Refusal):
            return _refused(found)
        _, job = found
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._stream(request, job.id)
        return web.json_response(storable(job_view(job)))  # the same text as stored

    async def cancel(self, request: web.Request) -> web.Response:
        found = await self.own_job(request, request.match_info["id"])
        if isinstance(found, Refusal):
            return _refused(found)
        caller, job = found
        job_id = job.id
        if job.status in FINAL_STATUSES:
            return _error(409, f"The job is already {job.status}.", job_status=job.status)
        if not await self.runner.cancel(job_id, by=caller.name):
            return _error(409, "The job could not be cancelled (it is finishing).")
        return web.json_response({"id": job_id, "cancelled": True})

    async def _stream(self, request: web.Request, job_id: str) -> web.StreamResponse:
        """SSE: `status` events while queued, the run's own events, then a final `status`."""
        resp = web.StreamResponse(headers=SSE_HEADERS)
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
        await self.resp.write(KEEP_ALIVE)


def _last_event_id(request: web.Request) -> int:
    """The SSE `Last-Event-ID` a reconnecting client sends (0 when absent or not a number)."""
    value = request.headers.get("Last-Event-ID", "").strip()
    return int(value) if value.isdigit() else 0


def _parse_ask(body: Any, caller: Caller = LOCAL) -> JobSpec | str:
    """A `JobSpec` from the `POST /api/ask` body, or why the body is wrong; the job's user is
    the caller's name for a named token."""
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
    if not_unicode(question):
        return "question is not valid Unicode: it holds a lone surrogate such as \\ud800."
    flags: dict[str, Any] = {}
    agents = body.get("agents")
    if (why := agents_refusal(agents)) is not None:
        return why
    if agents is not None:
        flags["agents"] = agents
    rounds = body.get("rounds")
    if rounds is not None:
        if isinstance(rounds, bool) or rounds not in (1, 2):
            return "rounds must be 1 or 2 (2: the agents compare notes before the synthesis)."
        flags["rounds"] = rounds
    user = body.get("user")
    if (why := user_refusal(user)) is not None:
        return why
    try:
        user = caller.user(user.strip() if user is not None else None)
    except ValueError as err:
        return str(err)
    return api_spec(question, user, flags=flags)
