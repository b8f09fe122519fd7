"""One MCP server's connection, kept by a supervisor task for the whole process.

Invariants: the SDK's `Client` is entered and left in the supervisor task only (its anyio task
group demands it); runs call tools on the shared session from their own tasks. The server is
started on first need; the end of its stream (a stdio server's process exited) or a call that
finds the connection closed marks it down at once (the 2026 protocol has no ping); after a
failed start or a death the supervisor waits (1 s, doubling to 60 s; reset by a session that
lasted a minute) and starts it again. Nothing here raises into a run: `ready()`
says whether the tools can be used, `call()` raises only `ToolFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TextIO, cast

import anyio
from anyio.abc import ObjectReceiveStream
from mcp import Client
from mcp.client import Transport
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, CallToolResult, Implementation
from mcp.types import Tool as McpToolInfo

from ...core import McpServerConfig
from ...observability import add_secret, redact
from .._base import ToolFailed

log = logging.getLogger("heavy.mcp")
State = Literal["idle", "starting", "up", "down", "stopped"]
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 60.0  # a session that lasted this long resets the back-off
STOP_TIMEOUT_S = 8.0  # the SDK closes stdin, waits 2 s, SIGTERM, 2 s, SIGKILL
MAX_TOOLS = 256
MAX_PAGES = 20
MAX_SSE_EVENT_BYTES = 16_000_000  # one HTTP result; the SDK's default (1 MB) refuses big pages
_CLIENT_INFO = Implementation(name="heavy", version="0.1")


@dataclass(slots=True, frozen=True)
class ServerStatus:
    """What `heavy tools`, `/healthz` and the metrics say about one server."""

    name: str
    transport: str  # stdio | http
    state: State
    reason: str | None = None  # ours, short: safe for /healthz and the agent
    detail: str | None = None  # the server's last stderr line, redacted: operators only
    tools: tuple[str, ...] = ()  # the server's own tool names, once listed
    restarts: int = 0

    def as_dict(self, *, detail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "transport": self.transport,
                               "tools": len(self.tools), "restarts": self.restarts}
        if self.reason:
            out["reason"] = self.reason
        if detail and self.detail:
            out["detail"] = self.detail
        return out


class McpServer:
    def __init__(self, name: str, config: McpServerConfig, env: Mapping[str, str]) -> None:
        self.name = name
        self.config = config
        self._env = env
        self.state: State = "idle"
        self.reason: str | None = None
        self.detail: str | None = None
        self.listing: list[McpToolInfo] = []
        self.generation = 0  # +1 per session that came up (the tools are rebuilt for it)
        self.restarts = 0
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()  # this session died (a caller saw it), or we are closing
        self._stop = asyncio.Event()  # we are closing
        self._closing = False
        self._warned = False  # one warning per outage, not one per retry
        self._http_error: int | None = None  # the last HTTP error status (the SDK hides it)

    def status(self) -> ServerStatus:
        # A retry during an outage is still down for runs (`ready`), so for everyone.
        state: State = "down" if self.state == "starting" and self._warned else self.state
        return ServerStatus(self.name, self.config.transport, state, self.reason,
                            self.detail, tuple(t.name for t in self.listing), self.restarts)

    async def ready(self) -> bool:
        """Whether the tools can be used now: starts the server on first need and waits for
        that start (at most its `start_timeout`); during an outage (after a failed start or a
        death) it waits neither for the back-off nor for a retry in progress."""
        if self._closing:
            return False
        if self._task is None:
            self._begin_attempt()
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")
        if self._warned:  # in an outage: a retry in progress is not waited for by every run
            return self.state == "up"
        if self._attempt is not None and self.state in ("idle", "starting"):
            # Bounded here, not by the start: a server that hangs is then still being stopped.
            await asyncio.wait({self._attempt}, timeout=self.config.start_timeout)
        if self.state == "starting":
            self.reason = f"did not answer within {self.config.start_timeout:g} s"
            # An outage from now on: the next runs do not wait for this start again (it is
            # still being stopped: the SDK unwinds a hung start in its own time).
            self._warn("is unavailable", self.reason)
        return self.state == "up"

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """One call on the shared session; the caller's timeout bounds it."""
        client = self._client
        if client is None or self.state != "up":
            raise ToolFailed(f"MCP server {self.name!r} is down ({self.reason or 'not started'})")
        try:
            return await client.call_tool(tool, arguments)
        except MCPError as err:
            if err.code == CONNECTION_CLOSED:
                self._lost("the server closed the connection")
                raise ToolFailed(f"MCP server {self.name!r} closed the connection during the "
                                 "call; it will be restarted") from None
            raise ToolFailed(f"MCP server {self.name!r}: {redact(err.message)[:500]}") from None
        except (OSError, EOFError) as err:  # a transport that broke outside the protocol
            self._lost(f"connection lost ({type(err).__name__})")
            raise ToolFailed(f"MCP server {self.name!r} could not be reached") from None

    async def aclose(self) -> None:
        """Stop the server (stdio: the process) and the supervisor; bounded."""
        self._closing = True
        self._wake.set()
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            if self.state != "up":  # a start in progress or a back-off: nothing to finish
                task.cancel()  # (the SDK still stops a started process, shielded and bounded)
            done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
            if not done:
                if self.config.command:
                    # The SDK can wait for ever on a start that hung (a process that never
                    # reads nor writes): the process is ours, so it goes, and the SDK unwinds.
                    _kill_children(self.config.command)
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
            if not done:  # never wait for ever on a shutdown: say so and go on
                log.warning("MCP server %s did not stop within %g s", self.name,
                            2 * STOP_TIMEOUT_S)
        self.state = "stopped"
        self._resolve()

    def _begin_attempt(self) -> None:
        self.state = "starting"
        self._attempt = asyncio.get_running_loop().create_future()

    def _resolve(self) -> None:
        if self._attempt is not None and not self._attempt.done():
            self._attempt.set_result(None)

    def _lost(self, reason: str) -> None:
        if self.state == "up":
            self.state, self.reason = "down", reason
            self._wake.set()

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST_S
        while not self._closing:
            started = time.monotonic()
            await self._session()
            if self._closing:
                break
            if time.monotonic() - started >= STABLE_S:
                delay = BACKOFF_FIRST_S
            self.reason = f"{self.reason or 'stopped'}; next try in {delay:g} s"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._closing:
                break
            delay = min(delay * 2, BACKOFF_MAX_S)
            self.restarts += 1
            self._begin_attempt()

    async def _session(self) -> None:
        """Start, list the tools, serve until the server dies or we close; then state down."""
        self.state, self._wake = "starting", asyncio.Event()
        if self._closing:
            self._wake.set()
        errlog = tempfile.TemporaryFile("w+b")  # the server's stderr: its last line says why
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(self.config.start_timeout):
                        client = await stack.enter_async_context(self._client_for(errlog))
                        listing = await _list_tools(client)
                except TimeoutError:
                    self._failed(f"did not answer within {self.config.start_timeout:g} s", errlog)
                    return
                except _NotConfigured as err:
                    self._failed(str(err), None)
                    return
                except FileNotFoundError:
                    self._failed(f"command not found: {(self.config.command or ['?'])[0]!r}",
                                 errlog)
                    return
                except Exception as err:  # the SDK's and the transport's many ways to fail
                    status, self._http_error = self._http_error, None
                    self._failed(f"HTTP {status} from the server" if status else _describe(err),
                                 errlog)
                    return
                self._client, self.listing, self.generation = client, listing, self.generation + 1
                self.state, self.reason, self.detail, self._warned = "up", None, None, False
                self._resolve()
                log.info("MCP server %s is up (%d tools)", self.name, len(listing))
                await self._wake.wait()  # the stream ended, a call found it closed, or closing
                self._client = None
                if not self._closing:
                    self.state = "down"
                    self.detail = _tail(errlog)
                    self._warn("went down", self.reason or "")
        except Exception as err:  # leaving the SDK's context after a death may raise too
            if not self._closing and self.state != "down":
                self._failed(_describe(err), errlog)
        finally:
            self._client = None
            errlog.close()
            self._resolve()

    def _failed(self, reason: str, errlog: IO[bytes] | None) -> None:
        self.state, self.reason = "down", reason
        self.detail = _tail(errlog) if errlog is not None else None
        self._warn("is unavailable", reason)
        self._resolve()

    def _warn(self, what: str, reason: str) -> None:
        """One warning per outage (retries that fail again log at debug); the agent is told
        in one line per run (see the pool)."""
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "MCP server %s %s: %s%s", self.name, what, reason,
                f" (stderr: {self.detail})" if self.detail else "")

    def _client_for(self, errlog: IO[bytes]) -> Client:
        if self.config.command is not None:
            params = StdioServerParameters(command=self.config.command[0],
                                           args=self.config.command[1:],
                                           env=self._secrets(self.config.env), cwd=self.config.cwd)
            # A binary file is what the subprocess gets as stderr; the SDK only passes it on.
            transport = stdio_client(params, errlog=cast(TextIO, errlog))
            return Client(self._watched(transport), cache=None, client_info=_CLIENT_INFO)
        assert self.config.url is not None
        headers = self._secrets(self.config.headers_env)
        http = _http_transport(self.config.url, headers, self._saw_status)
        return Client(self._watched(http), cache=None, client_info=_CLIENT_INFO)

    def _watched(self, transport: Transport) -> Transport:
        @contextlib.asynccontextmanager
        async def streams() -> AsyncIterator[Any]:
            async with transport as (read, write):
                yield _EndWatch(read, self._ended), write

        return cast(Transport, streams())

    def _ended(self) -> None:
        self._lost("the server exited or closed the connection")

    def _saw_status(self, status: int) -> None:
        self._http_error = status if status >= 400 else None

    def _secrets(self, names: Mapping[str, str]) -> dict[str, str]:
        """{their name: value of our variable}; `_NotConfigured` names a missing variable."""
        out = {}
        for theirs, ours in names.items():
            value = self._env.get(ours)
            if not value:
                raise _NotConfigured(f"{ours} is not set (needed for {theirs})")
            add_secret(value)  # never in a log line, whatever prints it
            out[theirs] = value
        return out


class _NotConfigured(Exception):
    pass


class _EndWatch(ObjectReceiveStream[Any]):
    """A transport's read stream that tells us when it ends: for stdio, the process exited."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:  # the SDK reads it from its HTTP streams, when present
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


def _http_transport(url: str, headers: dict[str, str],
                    on_status: Callable[[int], None]) -> Transport:
    return cast(Transport, _http_streams(url, headers, on_status))


@contextlib.asynccontextmanager
async def _http_streams(url: str, headers: dict[str, str],
                        on_status: Callable[[int], None]) -> AsyncIterator[Any]:
    """Streamable HTTP with our headers; one HTTP client for the whole session."""
    import httpx2  # the SDK's HTTP client

    async def seen(response: httpx2.Response) -> None:
        on_status(response.status_code)

    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (httpx2.AsyncClient(headers=headers, timeout=timeout,
                                   event_hooks={"response": [seen]}) as http,
                streamable_http_client(url, http_client=http,
                                       max_sse_event_size=MAX_SSE_EVENT_BYTES) as streams):
        yield streams


async def _list_tools(client: Client) -> list[McpToolInfo]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):  # a server that pages forever cannot hang the start
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor or len(tools) >= MAX_TOOLS:
            break
    return tools[:MAX_TOOLS]


def _describe(err: BaseException) -> str:
    """A short reason in our words (exception groups unwrapped; no payloads)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    if isinstance(err, MCPError):
        if err.code == CONNECTION_CLOSED:
            return "the server exited or closed the connection"
        return f"the server refused to start: {redact(err.message)[:200]}"
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status} from the server"
    return f"{type(err).__name__}: {redact(str(err))[:200]}" if str(err) else type(err).__name__


def _tail(errlog: IO[bytes] | None) -> str | None:
    """The last non-empty line the server wrote on stderr, redacted and short."""
    if errlog is None:
        return None
    try:
        fd = errlog.fileno()
        size = os.fstat(fd).st_size
        text = os.pread(fd, 4096, max(0, size - 4096)).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return redact(lines[-1])[:300] if lines else None


def _kill_children(command: list[str]) -> int:
    """SIGKILL this process's children running `command` (Linux: read from /proc); how many."""
    me, killed = os.getpid(), 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            argv = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
        if ppid != me or not argv:
            continue
        words, args = [a.decode(errors="replace") for a in argv], command[1:]
        # `command` itself, or an interpreter running it (a console script: python <path>)
        runs_it = any(Path(w).name == Path(command[0]).name for w in words[:2])
        if runs_it and (not args or words[-len(args):] == args):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    return killed
