"""`LiveMessage`: one Slack message kept up to date, at most one edit per interval.

Callers `set()` the newest content as often as they like; a single worker sends the latest
content when the interval allows, so intermediate states are merged, never queued. A 429 pushes
the next edit back by `Retry-After`; `close()` always sends the final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

Payload = tuple[str, list[dict[str, Any]]]  # (fallback text, blocks)


def retry_after(err: SlackApiError, default: float = 1.0) -> float | None:
    """Seconds to wait when `err` is a rate limit, else None."""
    resp = err.response
    if resp.status_code != 429 and api_error(err) != "ratelimited":
        return None
    headers = {k.lower(): v for k, v in (resp.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else default
    except ValueError:
        return default


class LiveMessage:
    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        *,
        thread_ts: str,
        ts: str | None = None,
        interval: float = 1.0,
        on_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts = ts  # None until posted
        self.interval = interval
        self._on_posted = on_posted
        self._pending: Payload | None = None
        self._sent: Payload | None = None
        self._next_at = 0.0  # loop time before which no edit goes out
        self._worker: asyncio.Task[None] | None = None

    def set(self, text: str, blocks: list[dict[str, Any]]) -> None:
        """Schedule `(text, blocks)` as the message's next content."""
        if (text, blocks) == self._sent:
            return
        self._pending = (text, blocks)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def post_now(self, text: str, blocks: list[dict[str, Any]]) -> None:
        """Send at once (the first post, which the user should see within half a second)."""
        self._pending = (text, blocks)
        await self._send_pending()

    async def close(self, text: str | None = None, blocks: list[dict[str, Any]] | None = None,
                    ) -> None:
        """Send the final state (waiting out the interval and any rate limit) and stop."""
        if text is not None and blocks is not None:
            self._pending = (text, blocks)
        if self._worker is not None:
            await self._worker
        if self._pending is not None:
            await self._run()

    async def turn(self) -> None:
        """Wait until the message may be written again (for a final write sent elsewhere)."""
        wait = self._next_at - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def cancel(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None:
            wait = self._next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._send_pending()

    async def _send_pending(self) -> None:
        loop = asyncio.get_running_loop()
        payload, self._pending = self._pending, None
        if payload is None or payload == self._sent:
            return
        text, blocks = payload
        try:
            if self.ts is None:
                resp = await self.client.chat_postMessage(
                    channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=blocks)
                self.ts = str(resp["ts"])
                if self._on_posted is not None:
                    await self._on_posted(self.ts)
            else:
                await self.client.chat_update(
                    channel=self.channel, ts=self.ts, text=text, blocks=blocks)
            self._sent = payload
            # Spaced from when Slack answered, so two edits never reach it closer than this.
            self._next_at = loop.time() + self.interval
        except SlackApiError as err:
            self._next_at = loop.time() + self.interval
            delay = retry_after(err)
            if delay is None:
                log.warning("updating message %s failed: %s", self.ts, api_error(err))
                return
            log.info("rate limited on message %s; retrying in %.1fs", self.ts, delay)
            self._next_at = loop.time() + max(delay, self.interval)
            if self._pending is None:  # nothing newer arrived meanwhile: resend this state
                self._pending = payload
        except (OSError, TimeoutError, ClientError) as err:
            # The network, not Slack: this edit is lost, the next one may get through.
            self._next_at = loop.time() + self.interval
            log.warning("updating message %s failed: %s", self.ts, type(err).__name__)
