"""A local OpenAI-compatible LLM server for tests and benchmarks (real HTTP, no mocks).

Replies come from a FIFO of scripted `Reply` objects when one is queued (per purpose first, then
the general queue), else from a deterministic "brain" that behaves like a sensible model:
decomposition -> `{"questions": [...]}`, agent -> one tool call then an answer, synthesis ->
Markdown. Every request is recorded with monotonic start/finish times (the clock asyncio uses),
so tests can count calls and check that nothing started after a deadline.

The handler stays lean on purpose: the benchmark drives ~3000 requests/s through one process.
Run it standalone with `python -m heavy_engine.testing.fake_llm --port 8089 --latency 0.2`
(add `--refuse vllm-tools` to have it refuse `tools` the way vLLM without tool parsing does).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

from ..providers import last_user_text, text_of, topic_of
from ._quirks import REFUSALS, refusal, with_cached_tokens

ReplyKind = Literal["brain", "text", "tool_calls", "error", "garbage", "hang", "drop"]
Purpose = Literal["decompose", "agent", "synthesis"]

_EXACTLY = re.compile(r"exactly (\d+)")
_AGENT_HEADING = re.compile(r"^## Agent \d+: (.+)$", re.M)
_ASPECTS = ("Key facts", "Main trade-offs", "Risks and failure modes", "Practical advice",
            "Alternatives", "Evidence to verify", "Costs", "Outlook")
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_JSON = "application/json"
_COMPLETE = "mark_task_complete"



@dataclass(slots=True)
class Reply:
    """One scripted answer. Build it with the `*_reply` helpers rather than by hand."""

    kind: ReplyKind = "brain"
    content: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, JSON arguments)
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # extra seconds on top of the server's latency
    usage: dict[str, Any] | None = None  # replaces the computed usage when set
    until: asyncio.Event | None = None  # answered only once this is set (see `held_reply`)


def text_reply(content: str, *, delay: float = 0.0, usage: dict[str, Any] | None = None) -> Reply:
    """A plain assistant answer."""
    return Reply("text", content=content, delay=delay, usage=usage)


def tool_call_reply(
    *calls: tuple[str, dict[str, Any] | str], content: str = "", delay: float = 0.0
) -> Reply:
    """One assistant turn with one or several tool calls, each `(name, arguments)`."""
    parsed = [(n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls]
    return Reply("tool_calls", content=content, tool_calls=parsed, delay=delay)


def error_reply(
    status: int,
    message: str = "fake error",
    *,
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    delay: float = 0.0,
) -> Reply:
    """An HTTP error; the body defaults to OpenAI's `{"error": {"message": ...}}` shape."""
    if body is None:
        raw = json.dumps({"error": {"message": message, "code": status}}).encode()
    else:
        raw = body.encode() if isinstance(body, str) else body
    return Reply("error", status=status, body=raw, headers=dict(headers or {}), delay=delay)


def garbage_reply(body: bytes = b"<html>upstream hiccup</html>", *, delay: float = 0.0) -> Reply:
    """A 200 whose body is not valid JSON (or, for a stream, not valid SSE JSON)."""
    return Reply("garbage", body=body, delay=delay)


def drop_reply(content: str = "Partial answer that never ends", *, delay: float = 0.0) -> Reply:
    """The connection drops: mid-stream after some text (no `[DONE]`), or before any reply."""
    return Reply("drop", content=content, delay=delay)


def hang_reply() -> Reply:
    """Never answers; the handler ends only when the client disconnects or the server stops."""
    return Reply("hang")


def slow_reply(seconds: float) -> Reply:
    """The brain's normal answer, `seconds` later than usual."""
    return Reply("brain", delay=seconds)


def held_reply(until: asyncio.Event) -> Reply:
    """The brain's normal answer once `until` is set: the test, not a delay, decides when the
    call ends (a call that must still be running at some step, however slow the machine)."""
    return Reply("brain", until=until)


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it. Header names are lower-cased."""

    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    purpose: Purpose | None
    started: float  # time.monotonic(), the same clock as loop.time()
    finished: float | None = None
    status: int | None = None
    cancelled: bool = False  # the client went away before the answer was sent
    peer: tuple[str, int] | None = None  # client address: equal ports mean a reused connection

    @property
    def stream(self) -> bool:
        return bool(self.body and self.body.get("stream"))


def classify(body: dict[str, Any]) -> Purpose:
    """Guess what the engine is asking for, from the request alone."""
    if body.get("tools"):
        return "agent"
    messages = body.get("messages") or [{}]
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_object":
        return "decompose"
    system = text_of(messages[0]).lower() if messages[0].get("role") == "system" else ""
    if "sub-question" in system and "json" in system:
        return "decompose"
    if "# Findings" in text_of(messages[-1]) or "findings of several" in system:
        return "synthesis"
    return "agent"


class FakeLLM:
    """`async with FakeLLM(latency=0.0) as fake:` then point a provider at `fake.base_url`."""

    def __init__(
        self,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        api_key: str | None = None,
        models: Iterable[str] = ("fake/model", "fake/orchestrator"),
        known_models_only: bool = False,
        refuse: Iterable[str] = (),
        cache_prompts: bool = False,
    ) -> None:
        """`refuse`: names from `REFUSALS`; a request with that field gets the server's 400.
        `cache_prompts`: report `prompt_tokens_details.cached_tokens` as a provider with
        prefix caching does: the longest prefix a request shares with an earlier one."""
        self.latency = latency
        self.host = host
        self.port = port
        self.record = record
        self.api_key = api_key  # when set, other bearer tokens get a 401
        self.models = list(models)
        self.known_models_only = known_models_only  # unknown model -> 404, like OpenRouter
        unknown = set(refuse) - set(REFUSALS)
        if unknown:
            raise ValueError(f"refuse: unknown {sorted(unknown)}; known: {sorted(REFUSALS)}")
        self.refuse = [REFUSALS[name] for name in refuse]
        self.cache_prompts = cache_prompts
        self._prompts: dict[str, deque[str]] = {}  # per model: the latest prompts, serialised
        self.requests: list[RecordedRequest] = []
        self.served = 0
        self._queue: deque[Reply] = deque()
        self._targeted: dict[str, deque[Reply]] = {
            "decompose": deque(), "agent": deque(), "synthesis": deque()
        }
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> FakeLLM:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that disconnects cancels the handler, so a hang ends
        # and the record shows the cancellation; no access log keeps the handler cheap.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeLLM:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- scripting ---------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | str, when: Purpose | None = None) -> None:
        """Queue replies (a str is a text reply), used FIFO before the brain answers.

        With `when`, they only answer requests of that purpose (checked before the general queue).
        """
        queue = self._queue if when is None else self._targeted[when]
        queue.extend(text_reply(r) if isinstance(r, str) else r for r in replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        self._queue.clear()
        for q in self._targeted.values():
            q.clear()
        self.requests.clear()
        self.served = 0

    def calls(self, purpose: Purpose | None = None) -> list[RecordedRequest]:
        """Recorded chat-completion requests, optionally of one purpose."""
        return [r for r in self.requests
                if r.path == "/v1/chat/completions" and (purpose is None or r.purpose == purpose)]

    async def wait_for(self, predicate: Callable[[FakeLLM], bool], within: float = 5.0) -> None:
        """Poll until `predicate(self)` holds, e.g. `lambda f: len(f.calls()) == 2`."""
        for _ in range(max(1, int(within / 0.005))):
            if predicate(self):
                return
            await asyncio.sleep(0.005)
        if not predicate(self):
            raise TimeoutError(f"the fake LLM condition did not hold within {within:g} s")

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._queue) + sum(len(q) for q in self._targeted.values())

    # -- handlers ----------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return web.Response(body=json.dumps({"object": "list", "data": data}), content_type=_JSON)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        self.served += 1
        body = _parse(await request.read())
        purpose = classify(body) if body is not None else None
        rec = None
        if self.record:
            headers = {k.lower(): v for k, v in request.headers.items()}
            peer = request.transport.get_extra_info("peername") if request.transport else None
            rec = RecordedRequest(request.path, body, headers, purpose, started,
                                  peer=tuple(peer[:2]) if peer else None)
            self.requests.append(rec)
        try:
            response = await self._answer(request, body, purpose)
        except asyncio.CancelledError:
            if rec is not None:
                rec.cancelled, rec.finished = True, time.monotonic()
            raise
        if rec is not None:
            rec.finished, rec.status = time.monotonic(), response.status
        return response

    def _next_reply(self, purpose: Purpose | None) -> Reply | None:
        if purpose is not None and self._targeted[purpose]:
            return self._targeted[purpose].popleft()
        return self._queue.popleft() if self._queue else None

    async def _held(self, until: asyncio.Event) -> None:
        """Until the test sets `until`, or the server stops."""
        waits = [asyncio.ensure_future(until.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _answer(
        self, request: web.Request, body: dict[str, Any] | None, purpose: Purpose | None
    ) -> web.StreamResponse:
        if body is None or purpose is None:
            return _error(400, "the request body is not a JSON object")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "No auth credentials found")
        if self.known_models_only and body.get("model") not in self.models:
            return _error(404, f"No endpoints found for {body.get('model')}.")
        if refused := refusal(body, self.refuse):
            return web.Response(status=400, body=refused, content_type=_JSON)
        reply = self._next_reply(purpose)
        if reply is not None and reply.until is not None:
            await self._held(reply.until)
        if reply is None or reply.kind == "brain":
            reply = brain(body, purpose, reply.delay if reply else 0.0)
        wait = self.latency + reply.delay
        if reply.kind == "hang":
            await self._closing.wait()
            return _error(503, "server shutting down")
        if wait > 0:
            await asyncio.sleep(wait)
        if reply.kind == "error":
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers,
                                content_type=reply.headers.get("Content-Type", _JSON))
        stream = bool(body.get("stream"))
        if reply.kind == "drop":
            return await _drop(request, body, reply.content, stream)
        if reply.kind == "garbage":
            if stream:
                return await _sse(request, [reply.body.decode(errors="replace")], done=False)
            return web.Response(body=reply.body, content_type=_JSON)
        model = str(body.get("model") or "fake/model")
        calls = [(f"call_{next(self._ids)}", n, a) for n, a in reply.tool_calls]
        usage = reply.usage or _usage(body, reply)
        if self.cache_prompts and reply.usage is None:
            seen = self._prompts.setdefault(model, deque(maxlen=64))
            usage = with_cached_tokens(usage, body, seen)
        if stream:
            return await _sse(request, _stream_chunks(model, reply.content, calls, usage))
        return web.Response(body=_completion(model, reply.content, calls, usage), content_type=_JSON)


# -- the brain ---------------------------------------------------------------------------------


def brain(body: dict[str, Any], purpose: Purpose, delay: float = 0.0) -> Reply:
    """The deterministic model: what a sensible LLM would answer to this request."""
    messages: list[dict[str, Any]] = body.get("messages") or []
    if purpose == "decompose":
        m = _EXACTLY.search(text_of(messages[0])) if messages else None
        n = int(m.group(1)) if m else 4
        topic = topic_of(last_user_text(messages))
        qs = [f"{_ASPECTS[i % len(_ASPECTS)]} (angle {i + 1}): {topic}" for i in range(n)]
        return Reply("text", content=json.dumps({"questions": qs}), delay=delay)
    if purpose == "synthesis":
        user = last_user_text(messages)
        question = user.rsplit("Question: ", 1)[-1].split("\n", 1)[0]
        angles = "".join(f"- {h}\n" for h in _AGENT_HEADING.findall(user)) or "- (none)\n"
        text = (f"## Answer\n\n**{question}**: the team's findings agree on the essentials.\n\n"
                f"### Angles covered\n\n{angles}\n### Conclusion\n\nA fake but well-formed "
                "synthesis.")
        return Reply("text", content=text, delay=delay)
    tools = body.get("tools") or []
    has_result = any(m.get("role") == "tool" for m in messages)
    topic = topic_of(last_user_text(messages))
    if tools and not has_result:
        names = [t.get("function", {}).get("name", "") for t in tools]
        others = [n for n in names if n != _COMPLETE]
        if "calculate" in names:
            call = ("calculate", '{"expression": "6 * 7 + sqrt(16)"}')
        elif others:
            call = (others[0], "{}")
        else:  # finishing is the only tool: finish properly, with the answer as summary
            summary = f"Findings on *{topic}*: a fake agent answer."
            call = (_COMPLETE, json.dumps({"summary": summary}))
        return Reply("tool_calls", tool_calls=[call], delay=delay)
    note = ""
    if has_result:
        last_tool = next(m for m in reversed(messages) if m.get("role") == "tool")
        note = f" The tool returned `{text_of(last_tool)[:200]}`."
    return Reply("text", content=f"Findings on *{topic}*: a fake agent answer.{note}",
                 delay=delay)


# -- wire formats ------------------------------------------------------------------------------


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, else None. orjson first (the fake's largest cost was
    the standard library's parser); it refuses lone surrogates, which `json` still reads."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            body = json.loads(raw)
        except ValueError:
            return None
    return body if isinstance(body, dict) else None


def _dumps(value: Any) -> bytes:
    """JSON bytes: orjson, except for a lone surrogate (a test's broken reply), which orjson
    refuses and the standard library escapes as `\\udXXX`, as a real server would send it."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _error(status: int, message: str) -> web.Response:
    body = json.dumps({"error": {"message": message, "code": status}})
    return web.Response(status=status, body=body, content_type=_JSON)


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    # A cheap, deterministic stand-in for tokenisation: about 4 characters per token.
    chars = sum(len(text_of(m)) for m in body.get("messages") or ())
    prompt = chars // 4 + 1
    completion = (len(reply.content) + sum(len(a) + len(n) for n, a in reply.tool_calls)) // 4 + 1
    cost = round(prompt * 1e-7 + completion * 4e-7, 9)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "cost": cost}


def _tool_part(call_id: str, name: str, args: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def _completion(
    model: str, content: str, calls: list[tuple[str, str, str]], usage: dict[str, Any]
) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [_tool_part(*c) for c in calls]
    return _dumps({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": usage,
    })


def _stream_chunks(
    model: str, content: str, calls: list[tuple[str, str, str]], usage: dict[str, Any]
) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                       "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).decode()

    out = [chunk({"role": "assistant", "content": ""})]
    step = max(1, -(-len(content) // 4))  # about four text pieces
    out.extend(chunk({"content": content[i:i + step]}) for i in range(0, len(content), step))
    for index, (call_id, name, args) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": ""}}
        out.append(chunk({"tool_calls": [head]}))
        half = max(1, len(args) // 2)
        for frag in (args[:half], args[half:]):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    out.append(_dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                       "created": 0, "model": model, "choices": [], "usage": usage}).decode())
    return out


async def _sse(request: web.Request, payloads: list[str], *, done: bool = True) -> web.StreamResponse:
    response = web.StreamResponse(headers=_SSE_HEADERS)
    await response.prepare(request)
    for p in payloads:
        await response.write(f"data: {p}\n\n".encode())
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _drop(
    request: web.Request, body: dict[str, Any], content: str, stream: bool
) -> web.StreamResponse:
    response = web.StreamResponse(headers=_SSE_HEADERS)
    if stream:
        await response.prepare(request)
        chunks = _stream_chunks(str(body.get("model") or "fake/model"), content, [], {})
        for p in chunks[: max(2, len(chunks) // 2)]:
            await response.write(f"data: {p}\n\n".encode())
    if request.transport is not None:
        request.transport.abort()
    return response


# -- standalone --------------------------------------------------------------------------------


async def _serve(host: str, port: int, latency: float, refuse: list[str]) -> None:
    if refuse:  # refusals are a FakeLLM feature: the aiohttp server, not the lean one
        async with FakeLLM(latency, host=host, port=port, record=False, refuse=refuse) as fake:
            print(f"fake LLM listening on {fake.base_url} (latency {latency:g} s, refusing "
                  f"{', '.join(refuse)})", flush=True)
            await asyncio.Event().wait()  # until Ctrl-C
        return
    from ._standalone import bound_port, serve  # the lean server: see its docstring

    server = await serve(host, port, latency)
    print(f"fake LLM listening on http://{host}:{bound_port(server)}/v1 "
          f"(latency {latency:g} s)", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """`python -m heavy_engine.testing.fake_llm --port 8089 --latency 0.2`."""
    parser = argparse.ArgumentParser(description="Local fake OpenAI-compatible LLM server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per reply")
    parser.add_argument("--refuse", action="append", default=[], choices=sorted(REFUSALS),
                        help="answer requests with this field the way that server does (400)")
    args = parser.parse_args(argv)
    try:
        import uvloop  # a dependency wherever it builds (not on Windows)
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(_serve(args.host, args.port, args.latency, args.refuse))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
