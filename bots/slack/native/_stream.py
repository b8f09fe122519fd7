"""`StreamedAnswer`: a run as one streamed Slack message, through slack_sdk's `chat_stream`
helper in plan mode (`task_display_mode="plan"`): the agents as tasks (one `task_update` chunk
per agent, see `_tasks`), then the synthesis as Markdown, sent at most once per interval (the
pipeline's pace) and only what changed.

The stream starts with the run, so the user sees the plan at once. Slack closes a stream after
about five minutes (`message_not_in_streaming_state`), and a workspace may not offer streaming
at all: any failure marks the stream broken and the delivery falls back to the progress card
and to editing the streamed message with chat.update / posting the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.models.messages.chunk import PlanUpdateChunk, TaskUpdateChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.progress import ProgressState

from .._markdown import neutralise
from .._slackerr import api_error
from ._tasks import changed_chunks, task_chunks, urls_in

log = logging.getLogger("heavy.slack")

Chunk = PlanUpdateChunk | TaskUpdateChunk
STREAM_MAX_CHARS = 11_000
# Start failures worth another try on the next answer; anything else means the workspace (or
# a GovSlack host) does not offer streaming, and the process stops asking.
TRANSIENT = frozenset({"ratelimited", "http_429", "http_500", "http_502", "http_503",
                       "http_504", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout"})  # Slack's markdown text fails near 12k: longer answers become files
SOURCES_TAIL = "\n\n**Sources**\n"  # heavy_engine's sources_section, after the answer
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def stream_safe(markdown: str) -> str:
    """Markdown for the streaming API that cannot ping: Slack's `<!channel>`, `<@U1>` and
    bare `@here` get a word joiner. Local edits only, so a prefix maps to a prefix."""
    return neutralise(markdown)


def without_sources(markdown: str) -> str:
    """The synthesis without the Sources list the engine appends: on Slack the sources end
    the message natively (a context block under the answer)."""
    head, found, _ = markdown.rpartition(SOURCES_TAIL)
    return head if found else markdown


def open_fence(markdown: str) -> str | None:
    """The marker of a code fence `markdown` leaves open (```` ``` ```` or `~~~`), if any."""
    fence: str | None = None
    for line in markdown.split("\n"):
        stripped = line.strip()
        if fence is None:
            m = _FENCE.match(line)
            if m:
                fence = m.group(1)
        elif stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            fence = None
    return fence


def sendable(markdown: str) -> str:
    """The part of a growing text safe to send now: up to the last whitespace, because the
    word after it may still become `@here` (which the next chunk would have to rewrite)."""
    cut = max(markdown.rfind(" "), markdown.rfind("\n"))
    return stream_safe(markdown[: cut + 1]) if cut >= 0 else ""


class StreamedAnswer:
    def __init__(self, client: AsyncWebClient, channel: str, *, thread_ts: str, team: str,
                 user: str, interval: float = 1.0,
                 on_started: Callable[[str], Awaitable[None]] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.team = team
        self.user = user
        self.interval = interval
        self.ts: str | None = None
        self._on_started = on_started
        self.metadata = metadata  # the message's tag, set when the stream stops (`_tags`)
        self.broken = False
        self.start_error: str | None = None  # why chat.startStream failed, if it did
        self.sent = ""  # what Slack has, already made safe
        self._text = ""
        self._stream: AsyncChatStream | None = None
        self._tasks: list[Chunk] = []  # the plan and tasks as they stand
        self._tasks_sent: dict[str, dict[str, Any]] = {}  # id (or "plan") -> what Slack has
        self._fetched: dict[int, list[str]] = {}  # agent -> URLs it fetched
        self._worker: asyncio.Task[None] | None = None

    def show(self, state: ProgressState) -> None:
        """The run as it stands: tasks, and the synthesis so far; sent when the interval
        allows."""
        for index, agent in state.agents.items():
            # The latest call's arguments stay after it ends: a `{"url": ...}` is a fetch.
            if '"url"' in agent.tool_args:
                seen = self._fetched.setdefault(index, [])
                seen += [u for u in urls_in(agent.tool_args) if u not in seen]
        findings = {i: a.finding for i, a in state.agents.items() if a.finding}
        self._tasks = list(task_chunks(state, findings=findings, sources=self._fetched))
        if state.synthesis:
            self._text = without_sources(state.synthesis)
        self._kick()

    def set(self, markdown: str) -> None:
        """The synthesis so far; sent when the interval allows."""
        self._text = without_sources(markdown)
        self._kick()

    def _kick(self) -> None:
        if not self.broken and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def settle(self) -> None:
        """Wait for the append in flight, if any (so `ts` and `start_error` are known)."""
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    async def cancel(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def finish(self, markdown: str, *, footer_blocks: list[dict[str, Any]],
                     note: str = "", last: Sequence[Chunk] = ()) -> bool:
        """Send the rest and stop the stream, with `last` chunks (the sources) after the
        tasks; False when the caller must post it instead."""
        await self.settle()
        head = markdown[:STREAM_MAX_CHARS]
        fence = open_fence(head) if len(markdown) > len(head) else None
        closing = f"\n{fence}" if fence else ""  # so a note after a cut is not inside code
        final = stream_safe(head) + closing + stream_safe(note)
        if not final.startswith(self.sent) and final.startswith(self.sent.rstrip()):
            # Slack has trailing blank lines the final text trimmed: keep them, go on.
            final = self.sent + final[len(self.sent.rstrip()):].lstrip()
        if self.broken or not final.startswith(self.sent):
            # Expired, or the answer is not what was streamed (the synthesis failed and the
            # findings stand in): close what is open and let the caller replace it.
            await self._stop_quietly()
            return False
        try:
            stream = await self._open()
            # The rest and the tasks' last states ride on the stop call.
            await stream.stop(markdown_text=final[len(self.sent):] or None,
                              chunks=[*self._changed(), *last] or None,
                              blocks=footer_blocks, metadata=self.metadata)
            await self._started()
            self.sent = final
        except SlackApiError as err:
            log.warning("finishing the stream failed: %s", api_error(err))
            self.broken = True
            if self.ts is None:
                self.start_error = api_error(err)
            return False
        return True

    async def _stop_quietly(self) -> None:
        if self._stream is None or self.ts is None:
            return
        try:
            await self._stream.stop(metadata=self.metadata)
        except (SlackApiError, SlackRequestError) as err:
            log.debug("stopping stream %s: %s", self.ts, err)

    def _changed(self) -> list[Chunk]:
        return list(changed_chunks(self._tasks_sent, self._tasks))

    async def _open(self) -> AsyncChatStream:
        if self._stream is None:
            # buffer_size=1: every append is sent; the interval is the pace, not a buffer.
            self._stream = await self.client.chat_stream(
                channel=self.channel, thread_ts=self.thread_ts, recipient_team_id=self.team,
                recipient_user_id=self.user, task_display_mode="plan", buffer_size=1)
        return self._stream

    async def _started(self) -> None:
        if self.ts is None and self._stream is not None and self._stream.ts:
            self.ts = str(self._stream.ts)
            if self._on_started is not None:
                await self._on_started(self.ts)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.broken:
            target = sendable(self._text[:STREAM_MAX_CHARS])
            delta = target[len(self.sent):] if target.startswith(self.sent) else ""
            chunks = self._changed()
            if not delta and not chunks:
                return
            started = loop.time()
            try:
                stream = await self._open()
                await stream.append(markdown_text=delta or None, chunks=chunks or None)
                await self._started()
            except SlackApiError as err:
                log.info("streaming stopped (%s); posting the answer instead", api_error(err))
                self.broken = True
                if self.ts is None:
                    self.start_error = api_error(err)
                return
            self.sent += delta
            self._tasks_sent.update({_key(c): c.to_dict() for c in chunks})
            await asyncio.sleep(max(self.interval - (loop.time() - started), 0))


def _key(chunk: Chunk) -> str:
    return chunk.id if isinstance(chunk, TaskUpdateChunk) else "plan"
