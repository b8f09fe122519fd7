"""`SlackBot`: what every listener shares (services, Web API client, caches), and the one path
from "someone asked" to a submitted job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine import HeavyConfig
from heavy_engine.delivery import ReplyPipeline
from heavy_engine.jobs import JobSpec, Services, may_ask
from heavy_engine.settings import AdminPolicy

from ._cards import failure_text
from ._context import ThreadHistory
from ._delivery import WORKING, react
from ._markdown import safe_mrkdwn
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

PLATFORM = "slack"
_ANSWERED_THREADS = 5000


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

    async def drain(self) -> None:
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def channel_config(self, team: str, channel: str) -> HeavyConfig:
        resolved = await self.services.settings.resolve(PLATFORM, team, channel)
        config: HeavyConfig = resolved.config
        return config

    async def duplicate(self, event_id: str | None) -> bool:
        """True when this event already made a job (a Slack retry, also across restarts).

        Only a shortcut before any work: the job's unique dedup key is what decides."""
        if not event_id or not await self.services.runner.seen(PLATFORM, event_id):
            return False
        log.info("duplicate event %s ignored", event_id)
        return True

    async def ask(
        self,
        *,
        team: str,
        channel: str,
        user: str,
        question: str,
        thread_ts: str,
        trigger_ts: str | None,
        dedup_key: str | None,
        context: str | None = None,
        extra: dict[str, Any] | None = None,
        flags: dict[str, Any] | None = None,
        attachments: dict[str, Any] | None = None,
    ) -> bool:
        """Submit a question; refusals go back to the user. True when a job was queued."""
        # A streamed run shows its own progress at once: the ⏳ reaction is for the card.
        streamed = getattr(self.delivery.surface, "streaming", False)
        working = asyncio.ensure_future(
            react(self.client, channel, None if streamed else trigger_ts, WORKING))
        spec = JobSpec(
            platform=PLATFORM, workspace=team, channel=channel, user=user, question=question,
            thread=thread_ts, context=context, dedup_key=dedup_key, flags=dict(flags or {}),
            attachments=attachments,
            reply={"channel": channel, "thread_ts": thread_ts, "team": team, "user": user,
                   "trigger_ts": trigger_ts, **(extra or {})},
        )

        async def refuse(sentence: str) -> None:
            await working
            await react(self.client, channel, trigger_ts, WORKING, remove=True)
            await self.tell(channel, user, f":information_source: {safe_mrkdwn(sentence)}",
                            thread_ts=thread_ts)

        job = await self.delivery.submit(spec, refuse)
        await working
        if job is None:
            return False
        self.remember_thread(channel, thread_ts)
        return True

    async def refusal(self, team: str, channel: str, user: str) -> str | None:
        """Why `user` may not ask here (the channel's allow/block lists), or None. Checked
        before any download or public post; the runner checks again at submit."""
        config = await self.channel_config(team, channel)
        return may_ask(config, user, platform=PLATFORM)

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
