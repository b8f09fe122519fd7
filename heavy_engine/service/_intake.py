"""What every HTTP surface of the service shares (heavy's API, the OpenAI-compatible endpoint,
MCP over HTTP): who may call, submitting a job with its limits and `Idempotency-Key`, and
following a job's events. Each surface renders a refusal in its own shape.

Who may call: `Authorization: Bearer $HEAVY_API_TOKEN`, or a named token of
`$HEAVY_API_TOKENS_FILE` whose name is then the caller (`_callers`). With no token configured
only clients on the loopback interface are answered, and nothing relayed by a reverse proxy
(it connects from loopback for anyone).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from ..core import MAX_AGENTS, RequestRejected
from ..jobs import Job, JobRejected, JobRunner, JobSpec
from ._callers import LOCAL, Caller, NamedTokens

T = TypeVar("T")
MAX_BODY_BYTES = 1024 * 1024  # the app's client_max_size
HEARTBEAT_S = 15.0  # a keep-alive on a quiet stream: proxies close idle ones
DISCONNECT_POLL_S = 0.2  # how often a long answer checks that its client is still there
MAX_IDEMPOTENCY_KEY = 255  # the width of jobs.dedup_key
MAX_USER_CHARS = 200  # a request's own `user` field
# An event stream's headers (both SSE surfaces: the API's and the OpenAI endpoint's).
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}  # nginx: do not buffer the stream
KEEP_ALIVE = b": keep-alive\n\n"  # an SSE comment: what a quiet stream sends every HEARTBEAT_S
# Set by reverse proxies: a request carrying one came through a proxy, which may well sit on
# this machine and connect from 127.0.0.1 on behalf of anyone on the internet.
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is not served: the HTTP status, one sentence, and the limit's reason."""

    status: int
    message: str
    reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def is_local(request: web.Request) -> bool:
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    return is_loopback(request.remote)


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def identify(request: web.Request, token: str | None,
             named: NamedTokens | None = None) -> Caller | Refusal:
    """Who calls: a named token (`HEAVY_API_TOKENS_FILE`), the single `HEAVY_API_TOKEN`, or a
    loopback client when neither is set; else why not."""
    if token is None and named is None:
        if is_local(request):
            return LOCAL
        return Refusal(403, "The API answers only local clients until HEAVY_API_TOKEN is set "
                            "on the server.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer":
        given = given.strip()
        name = named.identify(given) if named is not None else None
        if name is not None:
            return Caller(name, f"token:{name}")
        if token is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                     token.encode()):
            return Caller(None, header)
    return Refusal(401, "Missing or wrong bearer token.",
                   headers={"WWW-Authenticate": 'Bearer realm="heavy"'})


def idempotency_key(request: web.Request, caller: Caller, user: str) -> str | Refusal | None:
    """The stored deduplication key for the request's `Idempotency-Key` (None without one):
    the caller's key scoped to the caller (the named token, the bearer header, or the local
    machine when no token is set) and the job's `user`. Hashed, so no token is stored and the
    width stays fixed."""
    key = request.headers.get("Idempotency-Key") or None
    if key is None:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return Refusal(400, f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} "
                            "characters.")
    blob = "\0".join((caller.scope, user, key)).encode("utf-8", "surrogatepass")
    return "api1:" + hashlib.sha256(blob).hexdigest()


async def read_json(request: web.Request, usage: str) -> Any:
    """The request's body parsed, or `ValueError` saying why it is not acceptable JSON;
    `usage` (a sentence) says what the body should be."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ValueError(f"The request is too large; the limit is {MAX_BODY_BYTES:,} "
                         "bytes.") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{usage} It is not UTF-8.") from None
    except RecursionError:
        raise ValueError("The body is nested too deeply to be a question.") from None
    except ValueError as err:  # JSONDecodeError, or an integer of thousands of digits
        raise ValueError(f"{usage} ({str(err)[:100]})") from None


def not_unicode(value: str) -> bool:
    """True for text that cannot be stored: it holds a lone surrogate (JSON allows `\\ud800`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def agents_refusal(agents: Any) -> str | None:
    """Why a request's `agents` is refused (None when absent, a count, or "auto"): one rule
    for `POST /api/ask` and MCP's `heavy_ask` (the OpenAI endpoint has it in its model ids)."""
    if agents is None or agents == "auto":
        return None
    if isinstance(agents, bool) or not isinstance(agents, int) or not 1 <= agents <= MAX_AGENTS:
        return f'agents must be a whole number from 1 to {MAX_AGENTS}, or "auto".'
    return None


def user_refusal(user: Any) -> str | None:
    """Why a request's own `user` field is refused (None when absent or fine): one rule for
    `POST /api/ask` and the OpenAI endpoint. Who the job's user is then, `Caller.user` says."""
    if user is None:
        return None
    if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_CHARS:
        return f"user must be a non-empty string of at most {MAX_USER_CHARS} characters."
    if not_unicode(user):
        return "user is not valid Unicode: it holds a lone surrogate such as \\ud800."
    return None


def api_spec(question: str, user: str, *, channel: str = "api", context: str | None = None,
             flags: Mapping[str, Any] | None = None) -> JobSpec:
    """The job every HTTP surface asks for (heavy's API, the OpenAI-compatible endpoint, MCP):
    platform `api` with no workspace, so one set of limits and budgets covers them all."""
    return JobSpec(platform="api", workspace="", channel=channel, user=user, question=question,
                   context=context, flags=dict(flags or {}))


async def submit_job(runner: JobRunner, spec: JobSpec) -> Job | Refusal:
    """Submit `spec` under the runner's limits; a retried `spec.dedup_key` gets its first job
    back (409/422 when that cannot be, e.g. the same key for another question)."""
    try:
        job = await runner.submit(spec)
    except JobRejected as err:
        return Refusal(503 if err.reason == "shutting_down" else 429, str(err), err.reason)
    except RequestRejected as err:
        return Refusal(400, str(err))
    if job is not None:
        return job
    assert spec.dedup_key is not None  # None only for a duplicate key
    existing = await runner.store.find(spec.platform, spec.dedup_key)
    if existing is None:
        return Refusal(409, "This Idempotency-Key was already used.")
    if not same_request(existing.spec, spec):
        return Refusal(422, "This Idempotency-Key was already used for a different request; "
                            "use a new key for a new question.")
    return existing


def same_request(stored: JobSpec, asked: JobSpec) -> bool:
    """Whether a retried request asks what the stored one asked (the question is compared as
    the runner stores it, stripped)."""
    return (stored.question.strip() == asked.question.strip() and stored.flags == asked.flags
            and stored.user == asked.user and stored.channel == asked.channel)


async def wait_final(runner: JobRunner, job_id: str) -> Job | None:
    """The job once it is over (its result stored), following its events meanwhile."""
    async for _ in runner.follow(job_id):
        pass
    return await runner.get_job(job_id)


async def client_gone(request: web.Request) -> None:
    """Return once the client's connection is closed. aiohttp does not cancel handlers when a
    client leaves, and a quiet answer (agents researching) writes nothing that would fail."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(DISCONNECT_POLL_S)


async def with_heartbeats(events: AsyncIterator[T], beat: Callable[[], Awaitable[None]],
                          every: float = HEARTBEAT_S) -> AsyncIterator[T]:
    """`events`, calling `beat` (a keep-alive write) while none comes for `every` seconds. The
    events are read by a separate task: timing out a generator would end it."""
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
                item = await asyncio.wait_for(queue.get(), every)
            except TimeoutError:
                await beat()
                continue
            if item is None:
                return
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
