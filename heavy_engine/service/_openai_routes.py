"""The OpenAI-compatible endpoint: `GET /v1/models` and `POST /v1/chat/completions`.

Each completion is a durable job asked through the API's own submit (`Api.submit`: the same
limits, budgets, `Idempotency-Key`, and a line in `GET /api/jobs`). Streaming sends the
agents' progress as `delta.reasoning_content` lines and the synthesis as `delta.content` as it
is written. A client that goes away before its answer, streaming or not, cancels its job (the
SDKs ask again after their timeout). Errors use OpenAI's shape
`{"error": {"message", "type", "param", "code"}}`; a failed run answers 502 with
`x-should-retry: false`, so the SDKs do not ask the agents all over again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import OperationalError

from ..jobs import Job, JobRunner, start_of_day, storable
from ._api import Api
from ._health import RETRY_AFTER_S
from ._intake import (
    KEEP_ALIVE,
    SSE_HEADERS,
    Refusal,
    client_gone,
    read_json,
    wait_final,
    with_heartbeats,
)
from ._narrate import narrate
from ._openai_request import BadRequest, ChatAsk, listed_models, parse_chat

T = TypeVar("T")
log = logging.getLogger("heavy.openai")
CREATED = 1_700_000_000  # a fixed `created` for the model list (the presets have no date)
BUSY_RETRY_AFTER_S = 30  # the queue is full: a job or two will have finished by then
CLIENT_LEFT = 499  # nginx's "client closed request": what the access log and metrics show
_USAGE = "The body must be JSON: an object with `model` and `messages`."
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "invalid_request_error",
                409: "invalid_request_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error"}


def openai_error(status: int, message: str, *, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "server_error")
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status=status, headers=headers)


def _refused(refusal: Refusal) -> web.Response:
    headers = dict(refusal.headers)
    if refusal.status == 429:
        headers["Retry-After"] = str(_retry_after(refusal.reason))
    elif refusal.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    code = refusal.reason or ("invalid_api_key" if refusal.status == 401 else None)
    return openai_error(refusal.status, refusal.message, code=code, headers=headers)


def _retry_after(reason: str | None, now: datetime | None = None) -> int:
    """Seconds until a refused request may succeed: the budgets reset at 00:00 UTC."""
    if reason != "budget":
        return BUSY_RETRY_AFTER_S
    now = now or datetime.now(UTC)
    return max(int((start_of_day(now) + timedelta(days=1) - now).total_seconds()), 1)


def _usage(result: dict[str, Any]) -> dict[str, int]:
    usage = result.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class OpenAiRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/models", self.models),
                web.post("/v1/chat/completions", self.chat)]

    async def models(self, request: web.Request) -> web.Response:
        if isinstance(refusal := self.api.caller(request), Refusal):
            return _refused(refusal)
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "heavy"}
            for name in listed_models()]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        caller = self.api.caller(request)
        if isinstance(caller, Refusal):
            return _refused(caller)
        try:
            body = await read_json(request, _USAGE)
        except ValueError as err:
            return openai_error(400, str(err))
        try:
            ask = parse_chat(body)
            spec = ask.spec(caller)  # a named token asks as its name
        except BadRequest as err:
            return openai_error(err.status, err.message, param=err.param, code=err.code)
        try:
            job = await self.api.submit(request, spec, caller)
            if isinstance(job, Refusal):
                return _refused(job)
            if ask.stream:
                return await _Stream(self.api, request, job, ask).run()
            return await self._complete(request, job, ask)
        except OperationalError as err:
            log.warning("chat completion: the database is unavailable: %s", err.orig)
            return openai_error(503, "The database is busy or full; please try again shortly.",
                                headers={"Retry-After": str(RETRY_AFTER_S)})

    async def _complete(self, request: web.Request, job: Job, ask: ChatAsk) -> web.Response:
        waited = await _while_connected(self.api.runner, request, job,
                                        wait_final(self.api.runner, job.id))
        if waited.cancelled():  # the client left: nobody reads this
            return web.Response(status=CLIENT_LEFT)
        final = waited.result()
        result = final.result.as_dict() if final is not None and final.result else None
        if final is None or final.status != "done" or result is None:
            message = (final.error if final else None) or "The run ended without an answer."
            return openai_error(502, message, code=final.status if final else "failed",
                                headers={"x-should-retry": "false", "X-Heavy-Job": job.id})
        body = {
            "id": f"chatcmpl-{job.id}", "object": "chat.completion",
            "created": int(time.time()), "model": ask.model,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": result["answer"]}}],
            "usage": _usage(result),
            # Beyond OpenAI's shape, ignored by its clients: where to look the job up.
            "heavy": {"job": job.id, "sources": result["sources"], "notes": result["notes"]},
        }
        return web.json_response(storable(body), headers={"X-Heavy-Job": job.id})


class _Stream:
    """One streamed completion: `chat.completion.chunk` events, then `data: [DONE]`."""

    def __init__(self, api: Api, request: web.Request, job: Job, ask: ChatAsk) -> None:
        self.api, self.request, self.job, self.ask = api, request, job, ask
        self.created = int(time.time())
        self.resp = web.StreamResponse(headers={**SSE_HEADERS, "X-Heavy-Job": job.id})

    async def run(self) -> web.StreamResponse:
        await self.resp.prepare(self.request)
        relay = await _while_connected(self.api.runner, self.request, self.job, self._relay())
        if not relay.cancelled() and (err := relay.exception()) is not None and not isinstance(
                err, ConnectionError):
            log.error("the stream of job %s failed", self.job.id, exc_info=err)
        return self.resp

    async def _relay(self) -> None:
        await self._chunk({"role": "assistant", "content": ""})
        result: dict[str, Any] | None = None
        events = self.api.runner.follow(self.job.id)
        async for _, kind, data in with_heartbeats(events, self._comment):
            if kind == "synthesis_delta":
                await self._chunk({"content": data.get("text", "")})
            elif kind == "done":
                result = data.get("result")
            elif (line := narrate(kind, data)) is not None:
                await self._chunk({"reasoning_content": line + "\n"})
        final = await self.api.runner.get_job(self.job.id)
        if result is None or final is None or final.status != "done":
            message = (final.error if final else None) or (result or {}).get("error") or \
                "The run ended without an answer."
            await self._data({"error": {"message": message, "type": "server_error",
                                        "param": None,
                                        "code": final.status if final else "failed"}})
        else:
            await self._chunk({}, finish="stop")
            if self.ask.include_usage:
                await self._data(self._envelope([], usage=_usage(result)))
        await self.resp.write(b"data: [DONE]\n\n")
        await self.resp.write_eof()

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": f"chatcmpl-{self.job.id}", "object": "chat.completion.chunk",
                "created": self.created, "model": self.ask.model, "choices": choices, **extra}

    async def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        await self._data(self._envelope([{"index": 0, "delta": delta, "logprobs": None,
                                          "finish_reason": finish}]))

    async def _data(self, payload: dict[str, Any]) -> None:
        text = json.dumps(storable(payload), ensure_ascii=False)
        await self.resp.write(f"data: {text}\n\n".encode())

    async def _comment(self) -> None:
        await self.resp.write(KEEP_ALIVE)


async def _while_connected(runner: JobRunner, request: web.Request, job: Job,
                           work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`work` (answering `job`) run until it ends or its client leaves, as a finished task.
    When the client left first, or `work` failed writing to it, `job` is cancelled: nobody
    will read its answer, so it must not go on spending."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(client_gone(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # A server run with handler_cancellation cancels the handler when the client
        # leaves; shielded, so the job is cancelled all the same.
        await asyncio.shield(_client_left(runner, job))
        raise
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(task, gone, return_exceptions=True)
    if task.cancelled() or isinstance(task.exception(), ConnectionError):
        await _client_left(runner, job)
    return task


async def _client_left(runner: JobRunner, job: Job) -> None:
    """Nobody will read this answer: stop spending on it."""
    if await runner.cancel(job.id, by=job.spec.user):
        log.info("job %s cancelled: its client disconnected", job.id)
