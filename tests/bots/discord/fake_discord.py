"""A local fake of Discord: the REST routes discord.py uses and a gateway websocket.

The real discord.py client talks to it (`Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`), so
tests exercise the library's own parsing, interaction handling and rate-limit code. Every REST call
is recorded (method, path, query, JSON body, files, monotonic time); tests assert on the record.

Gateway: HELLO, then IDENTIFY gets READY and one GUILD_CREATE per guild; heartbeats are ACKed.
Frames are plain-text JSON (the `compress` query is ignored, which discord.py accepts since it
decompresses binary frames only). Threads created over REST are announced with THREAD_CREATE,
as Discord does.

Message nonces as Discord: a create with `nonce` and `enforce_nonce: true` whose nonce the same
author used within `nonce_ttl` seconds returns that message instead of creating another; a
created message carries its nonce in the create's response, not when read back (history).

Files: `attach(name, data)` stores a file and returns the attachment object a message carries;
its `url` points at this server's `/attachments/...` route (the CDN's shape, with a signed query
string that must come back intact). Downloads are recorded in `downloads`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

JSON = "application/json"  # discord.py checks the content type exactly
BOT_ID = "900000000000000001"
APP_ID = BOT_ID  # a bot's application id is its user id
GUILD_ID = "910000000000000001"
CHANNEL_ID = "920000000000000001"
FORUM_ID = "920000000000000002"
OWNER_ID = "930000000000000001"
ROLE_ID = "915000000000000001"  # "reviewers", a role members can hold (allow_roles)
EPOCH = "2026-01-01T00:00:00.000000+00:00"


@dataclass(slots=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]]
    at: float
    status: int = 0
    response: Any = None  # what the fake answered (e.g. the created message)

    def matches(self, method: str, pattern: str) -> bool:
        return self.method == method and re.fullmatch(pattern, self.path) is not None


@dataclass(slots=True)
class FakeDiscord:
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_ms: int = 41_250
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> message
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # scope -> list
    identifies: list[dict[str, Any]] = field(default_factory=list)
    guilds: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(950_000_000_000_000_001))
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _originals: dict[str, str] = field(default_factory=dict)  # interaction token -> message id
    _interaction_channels: dict[str, str] = field(default_factory=dict)  # token -> channel id
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _failures: list[tuple[str, str, int, dict[str, Any], dict[str, str]]] = field(
        default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (data, type)
    downloads: list[tuple[str, dict[str, str], dict[str, str]]] = field(
        default_factory=list)  # (path, query, headers) of each file download
    nonce_ttl: float = 120.0  # Discord: a nonce is enforced "in the past few minutes"
    _nonces: dict[tuple[str, str], tuple[str, float]] = field(
        default_factory=dict)  # (author id, nonce) -> (message id, monotonic time)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        self._changed = asyncio.Condition()
        if not self.guilds:
            self.guilds.append(default_guild())
        for g in self.guilds:
            for ch in g["channels"]:
                self.channels[ch["id"]] = {**ch, "guild_id": g["id"]}
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/attachments/{tail:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- what tests use ----------------------------------------------------------------------

    def new_id(self) -> str:
        return str(next(self._ids))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway DISPATCH to every connected client."""
        frame = json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
        for ws in list(self._sockets):
            await ws.send_str(frame)

    async def interact(self, payload: dict[str, Any]) -> None:
        """A user invoked a command or pressed a button (INTERACTION_CREATE)."""
        self._interaction_channels[payload["token"]] = payload["channel_id"]
        await self.dispatch("INTERACTION_CREATE", payload)

    async def user_message(self, payload: dict[str, Any]) -> None:
        """A user posted a message (stored, so history and thread starters can be read)."""
        self.messages[payload["id"]] = payload
        await self.dispatch("MESSAGE_CREATE", payload)

    async def open_thread(self, parent: str = CHANNEL_ID, name: str = "earlier question") -> str:
        """A thread the bot started earlier (announced with THREAD_CREATE); its id."""
        thread = thread_channel(self.new_id(), parent, name)
        self.channels[thread["id"]] = thread
        await self.dispatch("THREAD_CREATE", thread)
        return str(thread["id"])

    def attach(self, name: str, data: bytes,
               content_type: str | None = "text/plain") -> dict[str, Any]:
        """Store a file; the attachment object (as in a message's `attachments`) for it."""
        att_id = self.new_id()
        path = f"/attachments/{CHANNEL_ID}/{att_id}/{name}"
        self.files[path] = (data, content_type or "application/octet-stream")
        url = f"http://{self.host}:{self.port}{path}?ex=6a000000&is=69f00000&hm={att_id[-8:]}"
        out: dict[str, Any] = {"id": att_id, "filename": name, "size": len(data),
                               "url": url, "proxy_url": url}
        if content_type:
            out["content_type"] = content_type
        return out

    def fail_next(self, method: str, pattern: str, status: int = 403, code: int = 50013,
                  message: str = "Missing Permissions") -> None:
        """Answer the next matching call with a Discord error instead of serving it."""
        self._failures.append((method, pattern, status, {"code": code, "message": message}, {}))

    def rate_limit_next(self, method: str, pattern: str, retry_after: float = 0.2) -> None:
        """Answer the next matching call with a 429, as Discord does (`Via` header included,
        which discord.py uses to tell Discord's limits from a proxy's)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": False}
        headers = {"Via": "1.1 google", "Retry-After": str(retry_after),
                   "X-RateLimit-Scope": "user"}
        self._failures.append((method, pattern, 429, body, headers))

    def original(self, token: str) -> str:
        """The id of the message an interaction's first response created."""
        return self._originals[token]

    def find(self, method: str, pattern: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.matches(method, pattern)]

    async def wait_for(
        self, predicate: Callable[[], Any], within: float = 10.0
    ) -> Any:
        """Wait until `predicate()` is truthy (checked after each recorded call); return it."""
        assert self._changed is not None
        async with asyncio.timeout(within), self._changed:
            while not (value := predicate()):
                await self._changed.wait()
            return value

    async def wait_call(
        self, method: str, pattern: str, since: int = 0, count: int = 1, within: float = 10.0
    ) -> list[Call]:
        def enough() -> list[Call] | None:
            found = self.find(method, pattern, since)
            return found if len(found) >= count else None

        result: list[Call] = await self.wait_for(enough, within)
        return result

    def sent_messages(self, since: int = 0) -> list[Call]:
        """Every call that creates or edits message content (bot token or webhook)."""
        pattern = (
            r"/channels/\d+/messages(/\d+)?|/webhooks/\d+/[^/]+(/messages/.+)?"
            r"|/interactions/\d+/[^/]+/callback"
        )
        return [c for c in self.calls[since:]
                if c.method in ("POST", "PATCH") and re.fullmatch(pattern, c.path)]

    # -- gateway -----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:  # heartbeat
                    await ws.send_json({"op": 11})
                elif op == 2:  # identify
                    self.identifies.append(frame["d"])
                    await self._ready(ws, frame["d"])
                    assert self._changed is not None
                    async with self._changed:
                        self._changed.notify_all()
                elif op == 6:  # resume
                    await ws.send_json({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}})
        finally:
            self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        shard = identify.get("shard")
        ready = {
            "v": 10,
            "user": bot_user(),
            "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": APP_ID, "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        if shard is not None:
            ready["shard"] = shard
        await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
        for g in self.guilds:
            await ws.send_json({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": g})

    # -- REST --------------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.downloads.append((request.path, dict(request.query), dict(request.headers)))
        found = self.files.get(request.path)
        if found is None or not request.query.get("hm"):  # unsigned: Discord says 404 too
            return web.Response(status=404, text="not found")
        data, kind = found
        return web.Response(body=data, content_type=kind.split(";")[0])

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        call = Call(request.method, path, dict(request.query), body, files, time.monotonic())
        self.calls.append(call)
        headers: dict[str, str] = {}
        try:
            failure = next((f for f in self._failures if call.matches(f[0], f[1])), None)
            too_big = _over_limits(body.get("data") if path.endswith("/callback")
                                   and isinstance(body, dict) else body)
            if failure is not None:
                self._failures.remove(failure)
                status, payload, headers = failure[2], failure[3], failure[4]
            elif too_big is not None and request.method in ("POST", "PATCH"):
                status, payload = 400, {"code": 50035, "message": f"Invalid Form Body: {too_big}"}
            else:
                status, payload = self._route(request.method, path, body, files, request)
            call.status, call.response = status, payload
        finally:
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()
        if status == 204:
            return web.Response(status=204)
        return web.Response(status=status, body=json.dumps(payload), content_type=JSON,
                            headers=headers)

    def _route(
        self, method: str, path: str, body: Any, files: list[tuple[str, bytes]],
        request: web.Request,
    ) -> tuple[int, Any]:
        m: re.Match[str] | None
        if method == "GET" and path == "/users/@me":
            return 200, bot_user()
        if method == "GET" and path == "/oauth2/applications/@me":
            return 200, application()
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}
        if method == "PUT" and (m := re.fullmatch(
                r"/applications/\d+(?:/guilds/(\d+))?/commands", path)):
            scope = m.group(1) or "global"
            self.commands[scope] = [
                {**c, "id": self.new_id(), "application_id": APP_ID, "version": "1",
                 **({"guild_id": scope} if scope != "global" else {})}
                for c in body
            ]
            return 200, self.commands[scope]
        if method == "GET" and (m := re.fullmatch(r"/applications/\d+/commands", path)):
            return 200, self.commands.get("global", [])
        if method == "POST" and (m := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path)):
            return self._callback(m.group(1), m.group(2), body, files)
        if (m := re.fullmatch(r"/webhooks/\d+/([^/]+)/messages/([^/]+)", path)):
            token, which = m.groups()
            msg_id = self._originals.get(token) if which == "@original" else which
            if msg_id is None or msg_id not in self.messages:
                return 404, {"code": 10008, "message": "Unknown Message"}
            if method == "PATCH":
                self._edit(msg_id, body, files)
            if method == "DELETE":
                return 204, None
            return 200, self.messages[msg_id]
        if method == "POST" and (m := re.fullmatch(r"/webhooks/\d+/([^/]+)", path)):
            channel = self._interaction_channels.get(m.group(1), CHANNEL_ID)
            return 200, self._create(channel, body, files, webhook=True)
        if (m := re.fullmatch(r"/channels/(\d+)/messages", path)):
            if method == "POST":
                return 200, self._create(m.group(1), body, files)
            if method == "GET":
                # As Discord: newest first; with `after`, the `limit` messages right after it
                limit = int(request.query.get("limit", "50"))
                before = int(request.query.get("before", str(1 << 64)))
                after = int(request.query.get("after", "0"))
                found = sorted((x for x in self.messages.values()
                                if x["channel_id"] == m.group(1) and after < int(x["id"]) < before),
                               key=lambda x: int(x["id"]))
                page = found[:limit] if "after" in request.query else found[-limit:]
                return 200, [_as_read(x) for x in reversed(page)]
        if (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)):
            msg = self.messages.get(m.group(2))
            if msg is None:
                return 404, {"code": 10008, "message": "Unknown Message"}
            if method == "PATCH":
                self._edit(m.group(2), body, files)
            return 200, _as_read(msg) if method == "GET" else msg
        if method == "POST" and (
                m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)):
            return self._thread(m.group(1), body, thread_id=m.group(2))
        if method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/threads", path)):
            return self._thread(m.group(1), body, thread_id=self.new_id())
        if method == "GET" and (m := re.fullmatch(r"/channels/(\d+)", path)):
            ch = self.channels.get(m.group(1))
            return (200, ch) if ch else (404, {"code": 10003, "message": "Unknown Channel"})
        if method == "POST" and re.fullmatch(r"/channels/\d+/typing", path):
            return 204, None
        return 404, {"code": 0, "message": f"fake Discord has no route {method} {path}"}

    def _callback(
        self, interaction_id: str, token: str, body: Any, files: list[tuple[str, bytes]]
    ) -> tuple[int, Any]:
        kind = body.get("type")
        out: dict[str, Any] = {"interaction": {"id": interaction_id, "type": 2}}
        channel = self._interaction_channels.get(token, CHANNEL_ID)
        if kind in (4, 5):  # a message, or "thinking..." that becomes the original response
            data = dict(body.get("data") or {})
            if kind == 5:
                data = {"content": "", "flags": (data.get("flags") or 0) | 128}
            msg = self._create(channel, data, files, webhook=True)
            self._originals[token] = msg["id"]
            out["interaction"].update(response_message_id=msg["id"],
                                      response_message_loading=kind == 5,
                                      response_message_ephemeral=bool(data.get("flags", 0) & 64))
            out["resource"] = {"type": kind, "message": msg}
        elif kind == 7:  # update the message the component is on
            out["resource"] = {"type": 7}
        else:
            out["resource"] = {"type": kind}
        return 200, out

    def _create(
        self, channel: str, body: Any, files: list[tuple[str, bytes]], webhook: bool = False
    ) -> dict[str, Any]:
        body = body or {}
        author = bot_user()
        key = (author["id"], str(body.get("nonce")))
        if body.get("enforce_nonce") and body.get("nonce") is not None and not webhook:
            seen = self._nonces.get(key)
            if seen is not None and time.monotonic() - seen[1] < self.nonce_ttl \
                    and seen[0] in self.messages:
                return self.messages[seen[0]]
        msg = message(self.new_id(), channel, content=body.get("content") or "",
                      author=author, embeds=body.get("embeds") or [],
                      components=body.get("components") or [], flags=body.get("flags") or 0)
        msg["attachments"] = [_attachment(self.new_id(), name, data) for name, data in files]
        if webhook:
            msg["webhook_id"] = APP_ID
        if ref := body.get("message_reference"):
            msg["message_reference"] = ref
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
            if body.get("enforce_nonce") and not webhook:
                self._nonces[key] = (msg["id"], time.monotonic())
        self.messages[msg["id"]] = msg
        return msg

    def _edit(self, msg_id: str, body: Any, files: list[tuple[str, bytes]]) -> None:
        msg = self.messages[msg_id]
        for key, empty in (("content", ""), ("embeds", []), ("components", []), ("flags", 0)):
            if body and key in body:
                msg[key] = body[key] if body[key] is not None else empty
        if files:
            msg["attachments"] += [_attachment(self.new_id(), n, d) for n, d in files]
        msg["edited_timestamp"] = EPOCH

    def _thread(self, parent: str, body: Any, thread_id: str) -> tuple[int, Any]:
        parent_ch = self.channels.get(parent)
        if parent_ch is None or parent_ch["type"] not in (0, 5):
            return 400, {"code": 50024, "message": "Cannot execute action on this channel type"}
        if thread_id in self.channels:
            return 400, {"code": 160004,
                         "message": "A thread has already been created for this message"}
        name = body.get("name", "")
        if not 1 <= len(name) <= 100:
            return 400, {"code": 50035, "message": "Invalid Form Body (name)"}
        thread = thread_channel(thread_id, parent, name, body.get("auto_archive_duration", 1440))
        self.channels[thread_id] = thread
        # Discord announces new threads on the gateway; discord.py caches them from that.
        task = asyncio.get_running_loop().create_task(self.dispatch("THREAD_CREATE", thread))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 201, thread


def _over_limits(body: Any) -> str | None:
    """Discord's message limits, as a 400 would name them: content 2,000; embeds: title 256,
    description 4,096, 25 fields of 256 / 1,024, footer 2,048, 6,000 in all."""
    if not isinstance(body, dict):
        return None
    if len(body.get("content") or "") > 2000:
        return "content: Must be 2000 or fewer in length."
    total = 0
    for embed in body.get("embeds") or []:
        fields = embed.get("fields") or []
        sizes = {"title": (len(embed.get("title") or ""), 256),
                 "description": (len(embed.get("description") or ""), 4096),
                 "footer": (len((embed.get("footer") or {}).get("text") or ""), 2048),
                 "fields": (len(fields), 25)}
        sizes.update({f"fields.{i}.name": (len(f.get("name") or ""), 256)
                      for i, f in enumerate(fields)})
        sizes.update({f"fields.{i}.value": (len(f.get("value") or ""), 1024)
                      for i, f in enumerate(fields)})
        for key, (size, limit) in sizes.items():
            if size > limit:
                return f"embeds.{key}: Must be {limit} or fewer in length."
        total += sum(size for key, (size, _) in sizes.items() if key != "fields")
    if total > 6000:
        return "embeds: Embed size exceeds maximum size of 6000"
    return None


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """JSON bodies as they are; multipart (file uploads) as payload_json plus the files."""
    if request.content_type == "multipart/form-data":
        body: Any = None
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                files.append((part.filename or "", await part.read()))  # type: ignore[union-attr]
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []


def _as_read(msg: dict[str, Any]) -> dict[str, Any]:
    """A message as Discord returns it when read: its nonce is only in the create's response
    and the gateway's MESSAGE_CREATE, never in history or a fetch."""
    return {k: v for k, v in msg.items() if k != "nonce"}


def _attachment(att_id: str, name: str, data: bytes) -> dict[str, Any]:
    return {"id": att_id, "filename": name, "size": len(data),
            "url": f"https://cdn.fake/{name}", "proxy_url": f"https://cdn.fake/{name}"}


# -- payload builders (realistic shapes discord.py parses) ----------------------------------

def user(uid: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": uid, "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "bot": bot, "public_flags": 0}


def bot_user() -> dict[str, Any]:
    return {**user(BOT_ID, "heavy", bot=True), "verified": True, "mfa_enabled": False, "flags": 0}


def application() -> dict[str, Any]:
    return {"id": APP_ID, "name": "heavy", "description": "", "icon": None,
            "bot_public": True, "bot_require_code_grant": False,
            "owner": user(OWNER_ID, "owner"), "team": None, "verify_key": "00", "flags": 0,
            "interactions_endpoint_url": None}


def member(u: dict[str, Any], permissions: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"user": u, "roles": [], "joined_at": EPOCH, "deaf": False,
                           "mute": False, "flags": 0, "pending": False, "nick": None}
    if permissions is not None:
        out["permissions"] = str(permissions)
    return out


def text_channel(cid: str, name: str, kind: int = 0) -> dict[str, Any]:
    return {"id": cid, "type": kind, "name": name, "position": 0, "permission_overwrites": [],
            "nsfw": False, "parent_id": None, "rate_limit_per_user": 0, "topic": None,
            "last_message_id": None, "flags": 0, "available_tags": []}


def thread_channel(tid: str, parent: str, name: str, archive: int = 1440) -> dict[str, Any]:
    return {"id": tid, "type": 11, "guild_id": GUILD_ID, "parent_id": parent,
            "owner_id": BOT_ID, "name": name, "message_count": 0, "member_count": 1,
            "rate_limit_per_user": 0, "last_message_id": None, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": archive,
                                "archive_timestamp": EPOCH, "locked": False}}


def default_guild() -> dict[str, Any]:
    return {
        "id": GUILD_ID, "name": "Test server", "owner_id": OWNER_ID, "unavailable": False,
        "member_count": 3, "large": False, "features": [], "emojis": [], "stickers": [],
        "roles": [{"id": GUILD_ID, "name": "@everyone", "permissions": str(0x4_0000_0000 | 0xC00),
                   "position": 0, "color": 0, "hoist": False, "managed": False,
                   "mentionable": False, "flags": 0},
                  {"id": ROLE_ID, "name": "reviewers", "permissions": "0", "position": 1,
                   "color": 0, "hoist": False, "managed": False, "mentionable": False,
                   "flags": 0}],
        "members": [member(bot_user())],
        "channels": [text_channel(CHANNEL_ID, "general"), text_channel(FORUM_ID, "forum", 15)],
        "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
        "guild_scheduled_events": [], "soundboard_sounds": [], "premium_tier": 0,
        "preferred_locale": "en-US", "system_channel_flags": 0, "mfa_level": 0,
        "nsfw_level": 0, "verification_level": 0, "default_message_notifications": 0,
        "explicit_content_filter": 0, "afk_timeout": 300, "joined_at": EPOCH,
    }


def message(
    mid: str, channel: str, *, content: str, author: dict[str, Any],
    embeds: list[Any] | None = None, components: list[Any] | None = None,
    flags: int = 0, guild: str | None = GUILD_ID, mentions: list[Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": mid, "channel_id": channel, "author": author, "content": content,
        "timestamp": EPOCH, "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": mentions or [], "mention_roles": [], "attachments": [],
        "embeds": embeds or [], "components": components or [], "pinned": False, "type": 0,
        "flags": flags,
    }
    if guild is not None:
        out["guild_id"] = guild
    return out
