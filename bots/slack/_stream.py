"""`StreamedAnswer`: the synthesis through Slack's streaming API (chat.startStream,
chat.appendStream, chat.stopStream), appended at most once per interval.

Streaming starts with the synthesis, not the run: a stream left idle during slow tool calls
expires (`message_not_in_streaming_state`). Any failure marks the stream broken and the
delivery falls back to posting the answer with chat.update / chat.postMessage.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ._markdown import neutralise
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

STREAM_MAX_CHARS = 11_000
# Start failures worth another try on the next answer; anything else means the workspace (or
# a GovSlack host) does not offer streaming, and the process stops asking.
TRANSIENT = frozenset({"ratelimited", "http_429", "http_500", "http_502", "http_503",
                       "http_504", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout"})  # Slack's markdown text fails near 12k: longer answers become files
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def stream_safe(markdown: str) -> str:
    """Markdown for the streaming API that cannot ping: Slack's `<!channel>`, `<@U1>` and
    bare `@here` get a word joiner. Local edits only, so a prefix maps to a prefix."""
    return neutralise(markdown)


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
                 on_started: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.team = team
        self.user = user
        self.interval = interval
        self.ts: str | None = None
        self._on_started = on_started
        self.broken = False
        self.start_error: str | None = None  # why chat.startStream failed, if it did
        self.sent = ""  # what Slack has, already made safe
        self._text = ""
        self._worker: asyncio.Task[None] | None = None

    def set(self, markdown: str) -> None:
        """The synthesis so far; sent when the interval allows."""
        self._text = markdown
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
                     note: str = "") -> bool:
        """Send the rest and stop the stream; False when the caller must post it instead."""
        if self._worker is not None:
            await self._worker
        head = markdown[:STREAM_MAX_CHARS]
        fence = open_fence(head) if len(markdown) > len(head) else None
        closing = f"\n{fence}" if fence else ""  # so a note after a cut is not inside code
        final = stream_safe(head) + closing + stream_safe(note)
        if self.broken or not final.startswith(self.sent):
            # Expired, or the answer is not what was streamed (the synthesis failed and the
            # findings stand in): close what is open and let the caller replace it.
            await self._stop_quietly()
            return False
        try:
            if self.ts is None:
                await self._push(final)  # nothing was sent yet: start with all of it
            assert self.ts is not None
            # The rest rides on the stop call: one request fewer per answer.
            await self.client.chat_stopStream(
                channel=self.channel, ts=self.ts, markdown_text=final[len(self.sent):] or None,
                blocks=footer_blocks)
            self.sent = final
        except SlackApiError as err:
            log.warning("finishing the stream failed: %s", api_error(err))
            self.broken = True
            return False
        return True

    async def _stop_quietly(self) -> None:
        if self.ts is None:
            return
        try:
            await self.client.chat_stopStream(channel=self.channel, ts=self.ts)
        except SlackApiError as err:
            log.debug("stopping stream %s: %s", self.ts, api_error(err))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.broken:
            target = sendable(self._text[:STREAM_MAX_CHARS])
            if len(target) <= len(self.sent):
                return
            started = loop.time()
            try:
                await self._push(target)
            except SlackApiError as err:
                log.info("streaming stopped (%s); posting the answer instead", api_error(err))
                self.broken = True
                if self.ts is None:
                    self.start_error = api_error(err)
                return
            await asyncio.sleep(max(self.interval - (loop.time() - started), 0))

    async def _push(self, target: str) -> None:
        delta = target[len(self.sent):]
        if self.ts is None:
            resp = await self.client.chat_startStream(
                channel=self.channel, thread_ts=self.thread_ts, markdown_text=delta or None,
                recipient_team_id=self.team, recipient_user_id=self.user)
            self.ts = str(resp["ts"])
            if self._on_started is not None:
                await self._on_started(self.ts)
        elif delta:
            await self.client.chat_appendStream(channel=self.channel, ts=self.ts,
                                                markdown_text=delta)
        self.sent = target
