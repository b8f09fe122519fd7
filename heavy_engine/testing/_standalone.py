"""The fake LLM as its own process (`python -m heavy_engine.testing.fake_llm`), for benchmarks.

The benchmarks put a few thousand calls a second through it, on the same cores as the heavy
processes they measure, so every microsecond it spends is taken from them. In-process tests use
`FakeLLM` (aiohttp, scripted replies, a record of every request); this server only answers with
`brain`, which is all a separate process can do anyway (nothing can script it), on a bare
`asyncio.Protocol`: about 50 µs of CPU a call instead of 200 µs through aiohttp's web stack.

It speaks enough HTTP/1.1 for any OpenAI client: keep-alive, requests in order on a connection
(pipelined ones wait their turn), bodies with Content-Length (a chunked body gets 411), streamed
answers sent as one SSE body, 400 for a body that is not a JSON object, 404 for other paths.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass

import orjson

from .fake_llm import _completion, _parse, _stream_chunks, _usage, brain, classify

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required",
            413: "Payload Too Large", 431: "Request Header Fields Too Large"}
_ids = itertools.count(1)


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    body: bytes
    close: bool  # the client asked to close after this answer


class LeanProtocol(asyncio.Protocol):
    """One connection: parse requests as bytes arrive, answer them one at a time, in order."""

    def __init__(self, latency: float, models: list[str]) -> None:
        self.latency = latency
        self.models = models
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: tuple[str, str, int, bool] | None = None  # method, path, length, close
        self._waiting: deque[_Request] = deque()
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()  # the client went away: nobody to answer
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self.transport is not None:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEAD:
                        self._refuse(431, "the request head is too large")
                    return
                head = bytes(self._buffer[:end]).decode("latin-1")
                del self._buffer[:end + 4]
                if not self._read_head(head):
                    return
            assert self._head is not None
            method, path, length, close = self._head
            if len(self._buffer) < length:
                return
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
            self._head = None
            self._waiting.append(_Request(method, path, body, close))
            self._next()

    def _read_head(self, head: str) -> bool:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._refuse(400, "not an HTTP/1.x request line")
            return False
        length, close = 0, parts[2] == "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                if not value.isdigit():
                    self._refuse(400, "bad Content-Length")
                    return False
                length = int(value)
            elif name == "transfer-encoding":
                self._refuse(411, "send the body with a Content-Length")
                return False
            elif name == "connection":
                close = value.lower() == "close"
        if length > MAX_BODY:
            self._refuse(413, "the body is too large")
            return False
        self._head = (parts[0], parts[1].split("?", 1)[0], length, close)
        return True

    def _next(self) -> None:
        if self._busy or not self._waiting or self.transport is None:
            return
        request = self._waiting.popleft()
        self._busy = True
        status, body, kind = self._answer(request)
        if status == 200 and request.path.endswith("/chat/completions") and self.latency > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.latency, self._send, status, body, kind,
                                          request.close)
        else:
            self._send(status, body, kind, request.close)

    def _answer(self, request: _Request) -> tuple[int, bytes, str]:
        if request.method == "GET" and request.path.endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
            return 200, orjson.dumps({"object": "list", "data": data}), "application/json"
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return _error(404, f"no such endpoint: {request.method} {request.path}")
        body = _parse(request.body)
        if body is None:
            return _error(400, "the request body is not a JSON object")
        reply = brain(body, classify(body))
        model = str(body.get("model") or "fake/model")
        calls = [(f"call_{next(_ids)}", name, args) for name, args in reply.tool_calls]
        usage = _usage(body, reply)
        if body.get("stream"):
            chunks = _stream_chunks(model, reply.content, calls, usage)
            sse = "".join(f"data: {chunk}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
            return 200, sse.encode(), "text/event-stream"
        return 200, _completion(model, reply.content, calls, usage), "application/json"

    def _send(self, status: int, body: bytes, kind: str, close: bool) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n")
        self.transport.write(head.encode() + body)
        self._busy = False
        if close:
            self.transport.close()
            return
        self._next()

    def _refuse(self, status: int, message: str) -> None:
        """A request we cannot frame: answer it and close (the stream is out of step)."""
        _, body, kind = _error(status, message)
        if self._timer is not None:
            self._timer.cancel()  # an answer still due would come after this one
        self._waiting.clear()
        self._busy = True
        self._send(status, body, kind, close=True)


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    return status, orjson.dumps({"error": {"message": message, "code": status}}), \
        "application/json"


async def serve(host: str, port: int, latency: float,
                models: list[str] | None = None) -> asyncio.Server:
    """Start listening; the caller keeps the server (and closes it)."""
    names = list(models or ("fake/model", "fake/orchestrator"))
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: LeanProtocol(latency, names), host, port,
                                    backlog=4096)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


__all__ = ["LeanProtocol", "bound_port", "serve"]
