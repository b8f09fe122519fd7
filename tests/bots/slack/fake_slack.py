"""A local fake of the Slack Web API: real HTTP on 127.0.0.1, every call recorded.

Point `AsyncWebClient(base_url=fake.api_url)` (or `SLACK_API_URL`) at it. Failures are scripted
per method (`fail_next`), and `max_text_chars` makes long messages fail with `msg_too_long` the
way Slack does. `response_url`s and file upload URLs it hands out point back at it too.

Messages the bot posts in a thread join `threads` (what `conversations.replies` reads) with their
`metadata`, which `conversations.replies` returns only with `include_all_metadata`, as Slack.
Message ts are wall-clock times, as Slack's, so `oldest` filters them as it would.

Socket Mode as Slack does it: every `apps.connections.open` (one per replica, up to 10 per app)
hands out a WebSocket URL, and each envelope goes to ONE open connection, which must ack it on
that same connection (`push`, round robin; `push_twice` for Slack's retry landing elsewhere).
With `ack_within` set, an envelope not acked in time is retried on another connection.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TEAM = "T0TEAM"


def _invalid_blocks(blocks: Any) -> str | None:
    """Slack's Block Kit limits that bite in practice, as Slack reports them."""
    if not blocks:
        return None
    if len(blocks) > 50:
        return "no more than 50 items allowed [json-pointer:/blocks]"
    markdown = 0
    tables = 0
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "markdown":  # `text` is a string; 12,000 characters for all of them
            markdown += len(block.get("text") or "")
            if markdown > 12_000:
                return f"markdown blocks exceed 12000 characters [json-pointer:/blocks/{i}]"
            continue
        if kind == "table":
            tables += 1
            rows = block.get("rows") or []
            if tables > 1:
                return f"only one table allowed per message [json-pointer:/blocks/{i}]"
            if len(rows) > 100 or any(len(r) > 20 for r in rows):
                return f"table exceeds 100 rows or 20 columns [json-pointer:/blocks/{i}]"
            continue
        if kind in ("context", "context_actions") and len(block.get("elements") or []) > 10:
            return f"no more than 10 items allowed [json-pointer:/blocks/{i}/elements]"
        if kind == "context" and any(len(e.get("text") or "") > 3000
                                     for e in block.get("elements") or []):
            return f"must be less than 3001 characters [json-pointer:/blocks/{i}/elements]"
        text = (block.get("text") or {}).get("text", "")
        if kind == "section" and not 1 <= len(text) <= 3000:
            return f"must be 1-3000 characters [json-pointer:/blocks/{i}/text/text]"
    return None


def _retry_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """Slack's next attempt at an envelope: a new envelope id, the same event."""
    attempt = int(envelope.get("retry_attempt") or 0) + 1
    first_id = str(envelope["envelope_id"]).split("-retry", 1)[0]
    return {**envelope, "envelope_id": f"{first_id}-retry{attempt}", "retry_attempt": attempt,
            "retry_reason": "timeout"}


class _Refused(Exception):
    """A handler's `{"ok": false, "error": ...}` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(slots=True)
class Call:
    method: str
    args: dict[str, Any]
    at: float  # time.monotonic() when received
    status: int = 200
    ok: bool = True
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)  # what the fake answered
    token: str | None = None  # the bearer token the call was made with

    @property
    def ts(self) -> str | None:
        """The message ts a chat.postMessage created."""
        return self.result.get("ts")


@dataclass(slots=True)
class Connection:
    """One Socket Mode WebSocket, numbered in the order they opened."""

    number: int
    token: str | None  # the app-level token whose apps.connections.open issued its URL
    ws: web.WebSocketResponse
    received: list[str] = field(default_factory=list)  # envelope ids sent on it
    acked: list[str] = field(default_factory=list)  # envelope ids acked on it

    @property
    def open(self) -> bool:
        return not self.ws.closed


@dataclass(slots=True)
class _Failure:
    error: str
    status: int
    headers: dict[str, str]
    times: int


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    max_text_chars: int = 4_000  # `text` longer than this fails with msg_too_long, as Slack
    # markdown blocks longer than this (together) fail with msg_too_long: Slack counts
    # entities and emoji its own way, so a message within 12,000 of ours can still be refused
    max_markdown_chars: int = 12_000
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> text, stopped
    stream_ttl: float = 300.0  # Slack closes a stream after about five minutes
    connections: list[Connection] = field(default_factory=list)  # Socket Mode, by number
    _tickets: dict[str, str] = field(default_factory=dict)  # ws URL ticket -> app token
    _turn: int = 0  # round robin over the open connections
    # Slack retries an envelope not acked on its connection within 3 s (up to 3 times), on
    # another open connection; None: the fake never retries on its own.
    ack_within: float | None = None
    _retries: set[asyncio.Task[None]] = field(default_factory=set)
    port: int = 0
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds before answering
    text_delays: dict[str, float] = field(default_factory=dict)  # text contains key -> seconds
    # method -> calls still let through; later ones hang unrecorded (a process dying mid-call)
    hold: dict[str, int] = field(default_factory=dict)
    # method -> seconds between accepting a call (done and recorded) and answering it: a
    # process killed meanwhile never learns what Slack did
    linger: dict[str, float] = field(default_factory=dict)
    # Several workspaces: bot token -> what auth.test answers for it (others: TEAM's bot).
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    # oauth.v2.access: the app's (client_id, client_secret), and code -> the grant it returns.
    oauth_client: tuple[str, str] = ("", "")
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Files shared in messages: `share_file` stores one; GET /files-pri/... serves it only
    # with `Authorization: Bearer <files_token>` (else Slack's HTML sign-in page, as Slack).
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (data, type)
    files_token: str = ""
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)
    _auth: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _last_ts: float = 0.0
    _file_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _upload_names: dict[str, str] = field(default_factory=dict)  # file id -> its name

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{tail:.*}", self._file)
        app.router.add_post("/respond/{token}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        for task in self._retries:
            task.cancel()
        for conn in self.connections:
            await conn.ws.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def reset(self) -> None:
        self.calls.clear()
        self.uploads.clear()
        self._upload_names.clear()
        self.responses.clear()
        self.threads.clear()
        self.users.clear()
        self._failures.clear()
        self.delays.clear()
        self.text_delays.clear()
        self.hold.clear()
        self.linger.clear()
        self.tokens.clear()
        self.oauth_codes.clear()
        self.max_text_chars = 4_000

    # -- scripting and assertions ------------------------------------------------------------

    def fail_next(self, method: str, error: str, *, status: int = 200,
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self._failures.setdefault(method, []).append(
            _Failure(error, status, headers or {}, times))

    def response_url(self, token: str = "cmd") -> str:
        return f"{self.url}/respond/{token}"

    @staticmethod
    def shown(args: dict[str, Any]) -> str:
        """What a message shows: its markdown and section texts, else its `text`."""
        parts = [b["text"] if b.get("type") == "markdown" else b["text"]["text"]
                 for b in args.get("blocks") or []
                 if b.get("type") == "markdown" or (b.get("type") == "section"
                                                    and isinstance(b.get("text"), dict))]
        return "\n".join(parts) if parts else str(args.get("text") or "")

    def called(self, method: str, **match: Any) -> list[Call]:
        """Successful calls of `method` whose args contain every `match` item."""
        return [c for c in self.calls if c.method == method and c.ok
                and all(c.args.get(k) == v for k, v in match.items())]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until `predicate()` is truthy (it is re-checked after every call)."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; calls so far: {self.methods()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    # -- handlers ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._last_ts = max(time.time(), self._last_ts + 1e-6)  # unique and increasing
        return f"{self._last_ts:.6f}"

    async def _args(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        args: dict[str, Any] = dict(request.query)  # slack_sdk sends some methods' args here
        if request.content_type == "application/json":
            return {**args, **json.loads(raw or b"{}")}
        args.update(parse_qsl(raw.decode()))
        for key in ("blocks", "view", "files", "attachments", "metadata", "prompts",
                    "loading_messages", "chunks"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        for needle, seconds in self.text_delays.items():
            if needle in str(args.get("text") or ""):
                await asyncio.sleep(seconds)
        if method in self.hold:
            if self.hold[method] <= 0:
                await asyncio.Event().wait()  # until the fake closes
            self.hold[method] -= 1
        call = Call(method, args, time.monotonic())
        self._auth = request.headers.get("Authorization", "")
        if self._auth.startswith("Bearer "):
            call.token = self._auth.removeprefix("Bearer ")
        queued = self._failures.get(method)
        if queued:
            failure = queued[0]
            failure.times -= 1
            if failure.times <= 0:
                queued.pop(0)
            call.status, call.ok, call.error = failure.status, False, failure.error
            self._record(call)
            return web.json_response({"ok": False, "error": failure.error},
                                     status=failure.status, headers=failure.headers)
        text = args.get("text") or ""
        markdown = sum(len(b.get("text") or "") for b in args.get("blocks") or []
                       if isinstance(b, dict) and b.get("type") == "markdown")
        if method in ("chat.postMessage", "chat.update") and (
                len(text) > self.max_text_chars or markdown > self.max_markdown_chars):
            call.ok, call.error = False, "msg_too_long"
            self._record(call)
            return web.json_response({"ok": False, "error": "msg_too_long"})
        invalid = _invalid_blocks(args.get("blocks"))
        if invalid:
            call.ok, call.error = False, "invalid_blocks"
            self._record(call)
            return web.json_response({"ok": False, "error": "invalid_blocks",
                                      "errors": [invalid]})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            call.ok = False
            self._record(call)
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        try:
            body = handler(args)
        except _Refused as refused:
            call.ok, call.error = False, refused.error
            self._record(call)
            return web.json_response({"ok": False, "error": refused.error})
        call.result = body
        self._record(call)
        if method in self.linger:
            await asyncio.sleep(self.linger[method])
        return web.json_response({"ok": True, **body})

    def share_file(self, name: str, data: bytes, mimetype: str = "text/plain") -> dict[str, Any]:
        """Store a file; the file object a message's `files` carries for it."""
        file_id = f"F{len(self.files) + 1:07d}"
        path = f"/files-pri/{TEAM}-{file_id}/download/{name}"
        self.files[path] = (data, mimetype)
        return {"id": file_id, "created": 1700000000, "timestamp": 1700000000, "name": name,
                "title": name, "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1],
                "user": "U0ALICE", "size": len(data), "mode": "hosted", "is_external": False,
                "url_private": f"{self.url}{path.replace('/download', '')}",
                "url_private_download": f"{self.url}{path}"}

    async def _file(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.downloads.append((request.path, auth))
        found = self.files.get(request.path)
        if not self.files_token or auth != f"Bearer {self.files_token}" or found is None:
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        return web.Response(body=found[0], content_type=found[1])

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        self._record(Call("upload", {"file_id": request.match_info["file_id"]}, time.monotonic()))
        return web.Response(text="OK - uploaded")

    def open_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.open]

    async def push(self, envelope: dict[str, Any], *, to: int | None = None) -> int:
        """Send a Socket Mode envelope to ONE connection, as Slack does: connection number
        `to`, else the next open one in turn. Returns the number of the one that got it."""
        if to is None:
            candidates = self.open_connections()
            if not candidates:
                raise AssertionError("no open Socket Mode connection")
            to = candidates[self._turn % len(candidates)].number
            self._turn += 1
        conn = self.connections[to]
        conn.received.append(envelope["envelope_id"])
        await conn.ws.send_json(envelope)
        if self.ack_within is not None and envelope.get("retry_attempt", 0) < 3:
            task = asyncio.ensure_future(self._retry_unacked(conn, envelope, self.ack_within))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        return to

    async def push_twice(self, envelope: dict[str, Any]) -> tuple[int, int]:
        """One event on two connections at once: the envelope, and Slack's retry of it (a new
        envelope id, `retry_attempt` 1) on another open connection, as when an ack came late
        or a connection was being replaced. Returns both connections' numbers."""
        first = await self.push(envelope)
        return first, await self.push(_retry_of(envelope), to=self._other_than(first))

    def _other_than(self, number: int) -> int:
        """Another open connection for a retry, else the same one."""
        others = [c.number for c in self.open_connections() if c.number != number]
        return others[0] if others else number

    async def _retry_unacked(self, conn: Connection, envelope: dict[str, Any],
                             within: float) -> None:
        await asyncio.sleep(within)
        if envelope["envelope_id"] not in conn.acked and self.open_connections():
            await self.push(_retry_of(envelope), to=self._other_than(conn.number))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        token = self._tickets.get(request.query.get("ticket", ""))
        conn = Connection(len(self.connections), token, ws)
        self.connections.append(conn)
        self._record(Call("socket.connect", {"connection": conn.number}, time.monotonic(),
                          token=conn.token))
        await ws.send_json({"type": "hello", "num_connections": len(self.open_connections()),
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": "A0HEAVY"}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                conn.acked.append(data.get("envelope_id"))
                self._record(Call("socket.ack", {**data, "connection": conn.number},
                                  time.monotonic(), token=conn.token))
        return ws

    async def _respond(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.responses.append(body)
        self._record(Call("response_url", body, time.monotonic()))
        return web.Response(text="ok")

    # -- Web API methods (only what the adapter calls) ---------------------------------------

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # Slack's URLs carry a ticket too; here it tells which app token opened a connection.
        ticket = str(len(self._tickets))
        self._tickets[ticket] = self._auth.removeprefix("Bearer ")
        return {"url": f"ws://127.0.0.1:{self.port}/socket?ticket={ticket}"}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        known = self.tokens.get(self._auth.removeprefix("Bearer "))
        if known is not None:
            return {"url": "https://other.slack.com/", "team": "Other", "user": "heavy",
                    **known}
        return {"url": "https://example.slack.com/", "team": "Example", "user": "heavy",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}

    def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        client = base64.b64decode(self._auth.removeprefix("Basic ") or b"").decode()
        grant = self.oauth_codes.pop(args.get("code") or "", None)
        if client != ":".join(self.oauth_client) or grant is None:
            raise _Refused("invalid_code")
        return grant

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        message: dict[str, Any] = {"type": "message", "text": args.get("text", ""), "ts": ts,
                                   "bot_id": BOT_ID, "user": BOT_USER}
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        if args.get("metadata"):
            message["metadata"] = {"event_type": args["metadata"]["event_type"],
                                   "event_payload": args["metadata"].get("event_payload", {})}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
            self.threads.setdefault((args["channel"], args["thread_ts"]), []).append(message)
        return {"channel": args.get("channel"), "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": args.get("channel"), "ts": args.get("ts")}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": self._next_ts()}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        messages = self.threads.get((args["channel"], args["ts"]), [])
        oldest = float(args.get("oldest") or 0)
        picked = [m for m in messages if float(m["ts"]) > oldest or m["ts"] == args["ts"]]
        if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
            picked = [{k: v for k, v in m.items() if k != "metadata"} for m in picked]
        limit = int(args.get("limit") or 1000)
        return {"messages": picked[:limit], "has_more": len(picked) > limit}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = {"id": args["user"], "is_admin": False, "is_owner": False,
                "is_primary_owner": False, **self.users.get(args["user"], {})}
        return {"user": user}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V0VIEW", **args.get("view", {})}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view") or {}
        if len(view.get("blocks") or []) > 100:
            raise _Refused("invalid_arguments")
        return {"view": {"id": "V0HOME", **view}}

    def _assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        if len(args.get("prompts") or []) > 4:
            raise _Refused("invalid_arguments")
        return {}

    def _assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._file_ids):06d}"
        self._upload_names[file_id] = str(args.get("filename") or "")
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        shared = [{"id": f["id"], "title": f.get("title", ""),
                   "name": self._upload_names.get(f["id"], "")} for f in files]
        if args.get("channel_id") and args.get("thread_ts"):
            # Shared into the thread as a message of the bot's user, with the files, no text.
            self.threads.setdefault((args["channel_id"], args["thread_ts"]), []).append(
                {"type": "message", "ts": self._next_ts(), "user": BOT_USER, "text": "",
                 "thread_ts": args["thread_ts"], "files": shared, "upload": True})
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def _streaming(self, ts: str) -> dict[str, Any]:
        """The stream at `ts` if Slack still holds it open: a stopped stream, or one older
        than `stream_ttl`, answers `message_not_in_streaming_state` as Slack does."""
        stream = self.streams.get(ts)
        if stream is None:
            raise _Refused("message_not_found")
        if stream["stopped"] or time.monotonic() - stream["started"] > self.stream_ttl:
            stream["expired"] = not stream["stopped"]
            raise _Refused("message_not_in_streaming_state")
        return stream

    def _chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        # A message in the thread from the start, as Slack's, with no metadata (startStream
        # takes none; stopStream may add it).
        message: dict[str, Any] = {"type": "message", "text": "", "ts": ts,
                                   "bot_id": BOT_ID, "user": BOT_USER}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
            self.threads.setdefault((args["channel"], args["thread_ts"]), []).append(message)
        self.streams[ts] = {"text": args.get("markdown_text") or "", "stopped": False,
                            "started": time.monotonic(), "expired": False,
                            "thread_ts": args.get("thread_ts"), "message": message,
                            "task_display_mode": args.get("task_display_mode"), "chunks": []}
        self._take_chunks(self.streams[ts], args)
        message["text"] = self.streams[ts]["text"]
        return {"channel": args.get("channel"), "ts": ts}

    @staticmethod
    def _take_chunks(stream: dict[str, Any], args: dict[str, Any]) -> None:
        """Chunks (markdown_text, plan_update, task_update) as Slack would apply them."""
        for chunk in args.get("chunks") or []:
            stream.setdefault("chunks", []).append(chunk)
            if chunk.get("type") == "markdown_text":
                stream["text"] += chunk.get("text") or ""

    def _chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        stream = self._streaming(args["ts"])
        stream["text"] += args.get("markdown_text") or ""
        self._take_chunks(stream, args)
        stream["message"]["text"] = stream["text"]
        return {"channel": args.get("channel"), "ts": args["ts"]}

    def _chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        stream = self._streaming(args["ts"])
        stream["text"] += args.get("markdown_text") or ""
        self._take_chunks(stream, args)
        stream["stopped"] = True
        stream["blocks"] = args.get("blocks")
        stream["message"]["text"] = stream["text"]
        if args.get("metadata"):
            stream["message"]["metadata"] = {
                "event_type": args["metadata"]["event_type"],
                "event_payload": args["metadata"].get("event_payload", {})}
        return {"channel": args.get("channel"), "ts": args["ts"]}
