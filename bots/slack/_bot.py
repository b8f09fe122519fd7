"""`SlackBot`: what every listener shares (services, Web API client, caches), and the one path
from "someone asked" to a submitted job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine import HeavyConfig
from heavy_engine.delivery import Question, ReplyPipeline
from heavy_engine.jobs import Job, Services
from heavy_engine.settings import AdminPolicy

from ._context import ThreadHistory
from ._intake import PLATFORM, InThread
from ._render import failure_text
from ._slackerr import api_error
from ._surface import SlackSurface

log = logging.getLogger("heavy.slack")

_ANSWERED_THREADS = 5000


# What an acked listener runs: (body, payload, context) -> the work.
Work = Callable[[dict[str, Any], dict[str, Any], AsyncBoltContext], Awaitable[None]]


def reference() -> str:
    """A short id the user can quote; the log line with the details carries it too."""
    return uuid.uuid4().hex[:8]


@dataclass
class SlackBot:
    services: Services
    client: AsyncWebClient
    history: ThreadHistory
    admins: AdminPolicy
    # Threads the bot answered in, for the "follow" thread policy: a cache in front of the
    # runner's job history, which remembers them across restarts.
    answered: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)
    _inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    delivery: ReplyPipeline = field(init=False)  # set by the adapter, which builds both
    surface: SlackSurface = field(init=False)  # the delivery's surface (streaming or not)

    def remember_thread(self, channel: str, thread_ts: str) -> None:
        self.answered[(channel, thread_ts)] = None
        self.answered.move_to_end((channel, thread_ts))
        while len(self.answered) > _ANSWERED_THREADS:
            self.answered.popitem(last=False)

    async def answered_in(self, team: str, channel: str, thread_ts: str) -> bool:
        """Did heavy answer in this thread? The cache first, then the job history."""
        if (channel, thread_ts) in self.answered:
            return True
        if await self.services.runner.answered_in(PLATFORM, team, channel, thread_ts):
            self.remember_thread(channel, thread_ts)
            return True
        return False

    async def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a listener's work as a task `drain()` can wait for (tests, shutdown)."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        try:
            await task
        finally:
            self._inflight.discard(task)

    def acked(self, work: Work) -> Callable[..., Awaitable[None]]:
        """A Bolt listener for an action, a command or a shortcut: ack at once, then
        `work(body, payload, context)` as a task `drain()` waits for, whose unexpected error
        becomes one sentence for the user (channel and user from Bolt's context).

        A wrapper, not Bolt middleware: a listener middleware's `next()` only marks the chain
        to go on (bolt-python's `AsyncListener.run_async_middleware`), and the listener runs
        after the middleware has returned, so middleware could ack but never await, track or
        guard the listener's work."""

        async def listener(ack: AsyncAck, body: dict[str, Any], payload: dict[str, Any],
                           context: AsyncBoltContext) -> None:
            await ack()
            message = body.get("message") or {}
            await self.track(self.guarded(
                work(body, payload, context), channel=context.channel_id, user=context.user_id,
                thread_ts=message.get("thread_ts") or message.get("ts")))

        return listener

    async def drain(self) -> None:
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def channel_config(self, team: str, channel: str) -> HeavyConfig:
        resolved = await self.services.settings.resolve(PLATFORM, team, channel)
        config: HeavyConfig = resolved.config
        return config

    async def ask(self, question: Question, asking: InThread | None = None) -> Job | None:
        """The one way in (`heavy_engine.delivery.ask`); refusals go back to the user."""
        asking = asking or InThread(self, question)
        try:
            return await self.delivery.ask(question, asking)
        finally:
            await asking.close()

    async def tell(self, channel: str, user: str, text: str, *,
                   thread_ts: str | None = None) -> None:
        """An ephemeral note only `user` sees; errors here are logged, never raised."""
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text,
                                                 thread_ts=thread_ts)
        except SlackApiError as err:
            log.warning("chat.postEphemeral failed: %s", api_error(err))

    async def guarded(self, work: Awaitable[None], *, channel: str | None, user: str | None,
                      thread_ts: str | None = None) -> None:
        """Run `work`; an unexpected error becomes one sentence with a reference for the user
        and a stack trace with the same reference in the log."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = reference()
            log.exception("slack handler failed (ref %s)", ref)
            if channel and user:
                await self.tell(channel, user, failure_text(
                    "Something went wrong on my side; please try again.", ref),
                    thread_ts=thread_ts)
