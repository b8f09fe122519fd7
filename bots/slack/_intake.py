"""Slack's side of the one way in: a question read from an event, and how Slack speaks to the
asker before a job exists (`heavy_engine.delivery.ask` does the checks and the submit)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from heavy_engine.attachments import Attachment, HostPolicy
from heavy_engine.delivery import Asking, Question
from heavy_engine.jobs import Job

from ._markdown import safe_mrkdwn
from ._reply import SlackReply
from ._surface import WORKING, react

if TYPE_CHECKING:
    from ._bot import SlackBot

PLATFORM = "slack"


def slack_question(*, team: str, channel: str, user: str, text: str, thread_ts: str,
                   trigger_ts: str | None, dedup_key: str | None,
                   settings_channel: str | None = None, asked_ts: str | None = None,
                   **fields: Any) -> Question:
    """A Slack question answered in `thread_ts` of `channel` (the reply target)."""
    reply = SlackReply(channel=channel, thread_ts=thread_ts, team=team, user=user,
                       trigger_ts=trigger_ts, asked_ts=asked_ts)
    return Question(platform=PLATFORM, workspace=team, channel=settings_channel or channel,
                    user=user, text=text, reply=reply, thread=thread_ts, dedup_key=dedup_key,
                    **fields)


def slack_files(event: Mapping[str, Any]) -> list[Attachment]:
    """The files of a message event (`files`, subtype `file_share` included)."""
    return [Attachment(str(f.get("name") or f.get("title") or "file"),
                       str(f.get("url_private_download") or f.get("url_private") or ""),
                       f.get("size"), f.get("mimetype"), PLATFORM)
            for f in event.get("files") or [] if isinstance(f, dict)]


class InThread(Asking):
    """A question answered in a thread: refusals are ephemeral notes there, ⏳ marks the
    triggering message while the job waits for its card."""

    def __init__(self, bot: SlackBot, question: Question) -> None:
        target = SlackReply.of(question)
        self.bot = bot
        self.channel = target.channel
        self.user = question.user
        self.thread_ts: str | None = question.thread
        self.trigger_ts: str | None = target.trigger_ts
        self._working: asyncio.Future[None] | None = None

    async def refuse(self, sentence: str) -> None:
        if self._working is not None:
            await self._working
            await react(self.bot.client, self.channel, self.trigger_ts, WORKING, remove=True)
        await self.bot.tell(self.channel, self.user, f":information_source: {safe_mrkdwn(sentence)}",
                            thread_ts=self.thread_ts)

    async def prepare(self, question: Question) -> Question | None:
        # A streamed run shows its own progress at once: the ⏳ reaction is for the card.
        streamed = self.bot.surface.streaming
        self._working = asyncio.ensure_future(react(
            self.bot.client, self.channel, None if streamed else self.trigger_ts, WORKING))
        return question

    async def asked(self, job: Job) -> None:
        if self._working is not None:
            await self._working
        if self.thread_ts:
            self.bot.remember_thread(self.channel, self.thread_ts)

    async def close(self) -> None:
        """Wait for the ⏳ reaction when no job came of the question (a duplicate)."""
        if self._working is not None:
            await self._working


def with_files(question: Question, event: Mapping[str, Any], policy: HostPolicy) -> Question:
    """`question` with the event's files, downloaded (only once the asker may ask) by `policy`."""
    files = slack_files(event)
    return replace(question, files=files, file_policy=policy) if files else question
