"""The HTTP API for scripts and other front ends: ask, follow (JSON or SSE) and cancel jobs.

Every route needs `Authorization: Bearer <token>`: `$HEAVY_API_TOKEN`, or a named token of
`$HEAVY_API_TOKENS_FILE`, whose name is then the caller (see `_callers`). With no token
configured the API answers only clients on the loopback interface (a laptop's `curl`), and
refuses others, including anything relayed by a reverse proxy (it connects from loopback for
anyone).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from aiohttp import web

from ..core._config import MAX_AGENTS
from ..core._errors import RequestRejected
from ..jobs import FINAL_STATUSES, Job, JobRejected, JobRunner, JobSpec, job_view
from ..jobs._finish import storable
from ..jobs._views import list_view
from ._callers import LOCAL, Caller, NamedTokens

log = logging.getLogger("heavy.http")

T = TypeVar("T")

HEARTBEAT_S = 15.0
MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255  # the width of jobs.dedup_key
_ASK_FIELDS = {"question", "agents", "rounds", "user"}
RECENT_JOBS = 20  # what GET /api/jobs lists


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


# Set by reverse proxies: a request carrying one came through a proxy, which may well sit on
# this machine and connect from 127.0.0.1 on behalf of anyone on the internet.
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _is_local(request: web.Request) -> bool:
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    return _is_loopback(request.remote)


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


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

    def _refusal(self, request: web.Request) -> web.Response | None:
        caller = self.caller(request)
        return caller if isinstance(caller, web.Response) else None

    def caller(self, request: web.Request) -> Caller | web.Response:
        """Who calls (a named token, the single token, a loopback client), or the refusal."""
        if self.token is None and self.named is None:
            if _is_local(request):
                return LOCAL
            return _error(403, "The API answers only local clients until HEAVY_API_TOKEN is "
                               "set on the server.")
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer":
            given = given.strip()
            name = self.named.identify(given) if self.named is not None else None
            if name is not None:
                return Caller(name, f"token:{name}")
            if self.token is not None and hmac.compare_digest(
                    given.encode("utf-8", "surrogatepass"), self.token.encode()):
                return Caller(None, header)
        return web.json_response({"error": "Missing or wrong bearer token."}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="heavy"'})

    async def _own_job(self, request: web.Request) -> tuple[Caller, Job] | web.Response:
        """The caller and the job of the path's id; 404 for another named caller's job."""
        caller = self.caller(request)
        if isinstance(caller, web.Response):
            return caller
        job = await self.runner.get_job(request.match_info["id"])
        if job is None or not caller.owns(job):
            return _error(404, "No job with this id.")
        return caller, job

    async def ask(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if isinstance(caller, web.Response):
            return caller
        try:
            body = _json_body(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return _error(400, f"The request is too large; the limit is {MAX_BODY_BYTES:,} "
                               "bytes.")
        except ValueError as err:
            return _error(400, str(err))
        spec_or_error = _parse_ask(body, caller)
        if isinstance(spec_or_error, str):
            return _error(400, spec_or_error)
        spec = spec_or_error
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
            return _error(400, f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} "
                               "characters.")
        if key is not None:
            spec.dedup_key = _scoped_key(caller, spec.user, key)
        try:
            job = await self.runner.submit(spec)
        except JobRejected as err:
            status = 503 if err.reason == "shutting_down" else 429
            return _error(status, str(err), reason=err.reason)
        except RequestRejected as err:
            return _error(400, str(err))
        if job is None:  # a retried request with the same Idempotency-Key
            assert spec.dedup_key is not None
            existing = await self.runner.store.find("api", spec.dedup_key)
            if existing is None:
                return _error(409, "This Idempotency-Key was already used.")
            if not _same_request(existing.spec, spec):
                return _error(422, "This Idempotency-Key was already used for a different "
                                   "request; use a new key for a new question.")
            job = existing
        self._remember(caller, job.id)
        return web.json_response(
            {"id": job.id, "status": job.status,
             "position": job.position if job.status == "queued" else None,
             "url": f"/api/jobs/{job.id}"}, status=202)

    def _remember(self, caller: Caller, job_id: str) -> None:
        lists = [self.recent[None]]
        if caller.name is not None:
            lists.append(self.recent.setdefault(caller.name, deque(maxlen=RECENT_JOBS)))
        for recent in lists:
            if job_id in recent:
                recent.remove(job_id)
            recent.append(job_id)

    async def list_jobs(self, request: web.Request) -> web.Response:
        """The jobs asked through this server's API since it started, newest first (a named
        token's own only)."""
        caller = self.caller(request)
        if isinstance(caller, web.Response):
            return caller
        jobs = []
        for job_id in reversed(self.recent.get(caller.name, ())):
            job = await self.runner.get_job(job_id)
            if job is not None:
                jobs.append(list_view(job))
        return web.json_response({"jobs": jobs})

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        found = await self._own_job(request)
        if isinstance(found, web.Response):
            return found
        _, job = found
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._stream(request, job.id)
        return web.json_response(storable(job_view(job)))  # the same text as stored

    async def cancel(self, request: web.Request) -> web.Response:
        found = await self._own_job(request)
        if isinstance(found, web.Response):
            return found
        caller, job = found
        job_id = job.id
        if job.status in FINAL_STATUSES:
            return _error(409, f"The job is already {job.status}.", job_status=job.status)
        if not await self.runner.cancel(job_id, by=caller.name):
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
            async for seq, kind, data in _with_heartbeats(follow, sse):
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


async def _with_heartbeats(events: AsyncIterator[T], sse: _Sse) -> AsyncIterator[T]:
    """`events`, with keep-alive comments written while none comes (proxies close idle
    streams). The events are read by a separate task: timing out a generator would end it."""
    queue: asyncio.Queue[T | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                queue.put_nowait(event)
        finally:
            queue.put_nowait(None)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await sse.comment()
                continue
            if item is None:
                return
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _scoped_key(caller: Caller, user: str, key: str) -> str:
    """The stored deduplication key: the caller's key, scoped to the caller (the named token,
    the bearer header, or the local machine when no token is set) and the job's `user`. Hashed,
    so no token is stored and the width stays fixed."""
    blob = "\0".join((caller.scope, user, key)).encode("utf-8", "surrogatepass")
    return "api1:" + hashlib.sha256(blob).hexdigest()


def _same_request(stored: JobSpec, asked: JobSpec) -> bool:
    """Whether a retried request asks what the stored one asked (the question is compared as
    the runner stores it, stripped)."""
    return (stored.question.strip() == asked.question.strip() and stored.flags == asked.flags
            and stored.user == asked.user)


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
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str) or not user.strip() or len(user) > 200:
            return "user must be a non-empty string of at most 200 characters."
        if _not_unicode(user):
            return "user is not valid Unicode: it holds a lone surrogate such as \\ud800."
        user = user.strip()
    try:
        user = caller.user(user)
    except ValueError as err:
        return str(err)
    return JobSpec(platform="api", workspace="", channel="api", user=user,
                   question=question, flags=flags)
