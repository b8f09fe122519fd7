"""Renders a run on Discord: a live progress card, then the answer (or one sentence why not).

State that must survive a restart lives in `job.reply` (saved with `runner.save_reply`):

- `channel`: where the card is; `card`: its message id (absent until posted)
- `thread`: where the answer goes when not `channel`; `make_thread`: create it from the card
- `interaction`: the slash command's interaction id. While this process holds the live
  interaction and its token is fresh, edits go through it; after that (or after a restart)
  the bot token does the work. The token itself is never stored.
- `reference`: a message to reply to (the question, in DMs and plain channels)
- `mention`: ping the requester with the answer; `posted`: answer messages already sent;
  `answered`: the job is over on Discord

So a job delivered again edits the same card, and never posts an answer message twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import discord

from heavy_engine import Done, Run, RunResult
from heavy_engine.progress import ProgressState
from heavy_engine.runtime import Job, JobRunner
from heavy_engine.text import footer

from ._pacer import ChannelPacer
from ._render import (
    NO_MENTIONS,
    answer_mentions,
    failure_text,
    plan_answer,
    progress_embed,
    thread_name,
)
from ._stop import stop_view

log = logging.getLogger("heavy.discord")

TOKEN_TTL = 14 * 60  # interaction tokens live 15 min; leave a margin for slow edits
ONLINE_WAIT = 120.0  # a job recovered at start-up waits this long for the login
THREAD_EXISTS = 160004  # Discord's code for "a thread has already been created for this message"
ARCHIVE_MINUTES: Literal[1440] = 1440  # a day: Discord allows 60, 1440, 4320 or 10080


class DiscordDelivery:
    def __init__(
        self,
        client: discord.Client,
        runner: JobRunner,
        pacer: ChannelPacer,
        *,
        refresh: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.runner = runner
        self.pacer = pacer
        self.refresh = refresh  # redraw at least this often, so elapsed times move
        self._clock = clock
        self._interactions: dict[str, tuple[discord.Interaction, float]] = {}  # id -> (it, when)
        self.stopped_by: dict[str, int] = {}  # job id -> who pressed Stop
        # Set once logged in: the runner may hand over recovered jobs before that.
        self.online = asyncio.Event()

    async def deliver(self, job: Job, run: Run) -> None:
        await asyncio.wait_for(self.online.wait(), ONLINE_WAIT)
        try:
            await self._deliver(job, run)
        except Exception:
            log.exception("discord delivery of job %s failed", job.id)
            with contextlib.suppress(Exception):
                await self._post(job, failure_text(None, job.id), mention=False)
            raise

    # -- the steps ---------------------------------------------------------------------------

    async def _deliver(self, job: Job, run: Run) -> None:
        reply = job.reply
        state = ProgressState(question=job.spec.question)
        if reply.get("answered"):
            return  # delivered again after the answer went out: nothing left to do
        await self._ensure_card(job, state)
        await self._ensure_thread(job)
        dirty = asyncio.Event()
        closing = False

        async def pump() -> None:
            # Merge updates: each turn renders the newest state, however many events came.
            while not closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dirty.wait(), timeout=self.refresh)
                if closing:
                    return
                await self.pacer.turn(int(reply["channel"]))
                if closing:
                    return
                dirty.clear()
                try:
                    await self._edit_card(job, progress_embed(state, time.monotonic()), live=True)
                except Exception as err:  # a lost progress edit must never end the delivery
                    log.warning("progress edit for job %s failed: %s", job.id, err)

        pumping = asyncio.create_task(pump())
        try:
            async for event in run.stream():
                state.apply(event)
                if isinstance(event, Done):
                    break
                dirty.set()
        finally:
            closing = True
            dirty.set()
            await pumping
        await self._finish(job, state)

    async def _ensure_card(self, job: Job, state: ProgressState) -> None:
        reply = job.reply
        if reply.get("card"):
            return
        channel = self.client.get_partial_messageable(int(reply["channel"]))
        embed, view = progress_embed(state, time.monotonic()), stop_view(job.id, int(job.spec.user))
        reference = _reference(reply)
        if reference is not None:
            message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS,
                                         reference=reference)
        else:
            message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
        reply["card"] = str(message.id)
        await self.runner.save_reply(job)

    async def _ensure_thread(self, job: Job) -> None:
        """A slash command's answer goes to a thread started from the card, when possible."""
        reply = job.reply
        if not reply.pop("make_thread", False) or reply.get("thread"):
            return
        try:
            # A partial message knows no guild; thread creation needs the cached channel.
            channel_id = int(reply["channel"])
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(
                channel_id)
            if not isinstance(channel, discord.TextChannel):
                raise TypeError(f"cannot start a thread in {type(channel).__name__}")
            card = channel.get_partial_message(int(reply["card"]))
            thread = await card.create_thread(name=thread_name(job.spec.question),
                                              auto_archive_duration=ARCHIVE_MINUTES)
        except discord.HTTPException as err:
            if err.code == THREAD_EXISTS:  # made before a restart: a message's thread has its id
                reply["thread"] = reply["card"]
            else:  # forum posts, missing permissions...: answer in the channel instead
                log.info("no thread for job %s (%s); answering in the channel", job.id, err)
                reply["reference"] = reply["card"]
        except TypeError as err:
            log.info("no thread for job %s (%s); answering in the channel", job.id, err)
            reply["reference"] = reply["card"]
        else:
            reply["thread"] = str(thread.id)
        await self.runner.save_reply(job)

    async def _finish(self, job: Job, state: ProgressState) -> None:
        result = state.result
        assert result is not None
        reply = job.reply
        if result.status != "ok":
            log.warning("job %s ended %s: %s", job.id, result.status, result.error)
        if reply.get("thread") and result.answer:
            note = f"Answer in <#{reply['thread']}>."
        elif result.answer:
            note = "Answer below."
        else:
            note = ""
        stopper = self.stopped_by.pop(job.id, None)
        if result.status == "cancelled" and stopper is not None:
            note = f"Stopped by <@{stopper}>. {note}".strip()
        elif result.status not in ("ok", "cancelled"):
            note = f"{failure_text(result.error, job.id, status=result.status)} {note}".strip()
        await self.pacer.turn(int(reply["channel"]))
        try:  # the final state is always sent (no Stop button any more)
            await self._edit_card(job, progress_embed(state, time.monotonic(), note=note),
                                  live=False)
        except discord.HTTPException as err:
            log.warning("final card edit for job %s failed: %s", job.id, err)
        if result.answer:
            await self._post_answer(job, result.answer, _footer(result))
        elif result.status != "cancelled":
            mention = bool(reply.get("mention"))
            text = failure_text(result.error, job.id, status=result.status)
            await self._post(job, f"<@{job.spec.user}> {text}" if mention else text,
                             mention=mention)
        reply["answered"] = True
        self.forget(reply.get("interaction"))
        await self.runner.save_reply(job)

    async def _post_answer(self, job: Job, answer: str, footer_text: str) -> None:
        reply = job.reply
        mention = bool(reply.get("mention"))
        prefix = f"<@{job.spec.user}>" if mention else ""
        plan = plan_answer(answer, footer_text, prefix=prefix)
        posted = int(reply.get("posted", 0))
        for i, content in enumerate(plan.messages):
            if i < posted:
                continue  # sent before a restart
            last = i == len(plan.messages) - 1
            file = (discord.File(io.BytesIO(answer.encode()), filename=f"heavy-{job.id}.md")
                    if plan.attach and last else None)
            await self._post(job, content, mention=mention and i == 0, file=file,
                             reference=i == 0)
            reply["posted"] = i + 1
            await self.runner.save_reply(job)

    # -- sending -----------------------------------------------------------------------------

    def remember(self, interaction: discord.Interaction) -> None:
        """Keep a slash command's interaction for edits while its token is fresh."""
        now = self._clock()
        for key, (_, when) in list(self._interactions.items()):
            if now - when > TOKEN_TTL:
                del self._interactions[key]  # jobs that never reached delivery
        self._interactions[str(interaction.id)] = (interaction, now)

    def forget(self, interaction_id: str | None) -> None:
        self._interactions.pop(interaction_id or "", None)

    def _live(self, job: Job) -> discord.Interaction | None:
        found = self._interactions.get(job.reply.get("interaction") or "")
        if found is None or self._clock() - found[1] > TOKEN_TTL:
            return None
        return found[0]

    async def _edit_card(self, job: Job, embed: discord.Embed, *, live: bool) -> None:
        reply = job.reply
        view = stop_view(job.id, int(job.spec.user)) if live else None
        interaction = self._live(job)
        if interaction is not None:
            try:
                await interaction.edit_original_response(
                    content=None, embed=embed, view=view, allowed_mentions=NO_MENTIONS)
                return
            except discord.HTTPException as err:
                # Expired early (401 Invalid Webhook Token) or gone: the bot token from now on.
                if err.status not in (401, 403, 404):
                    raise
                self.forget(reply.get("interaction"))
        card = self.client.get_partial_messageable(int(reply["channel"])).get_partial_message(
            int(reply["card"]))
        await card.edit(content=None, embed=embed, view=view, allowed_mentions=NO_MENTIONS)

    async def _post(
        self,
        job: Job,
        content: str,
        *,
        mention: bool,
        file: discord.File | None = None,
        reference: bool = True,
    ) -> None:
        """Send with the bot token (runs outlive interaction tokens), the webhook as fallback."""
        reply = job.reply
        target = int(reply.get("thread") or reply["channel"])
        mentions = answer_mentions(int(job.spec.user)) if mention else NO_MENTIONS
        extra: dict[str, Any] = {}
        ref = _reference(reply) if reference and not reply.get("thread") else None
        if ref is not None:
            extra["reference"] = ref
        if file is not None:
            extra["file"] = file
        try:
            await self.client.get_partial_messageable(target).send(
                content, allowed_mentions=mentions, **extra)
        except discord.Forbidden:
            # E.g. a user-installed app: not a member of the channel, but the interaction is.
            interaction = self._live(job)
            if interaction is None:
                raise
            extra.pop("reference", None)
            if file is not None:
                file.reset()
            await interaction.followup.send(content, allowed_mentions=mentions, wait=True,
                                            **extra)


def _reference(reply: dict[str, Any]) -> discord.MessageReference | None:
    ref = reply.get("reference")
    if not ref:
        return None
    return discord.MessageReference(message_id=int(ref), channel_id=int(reply["channel"]),
                                    fail_if_not_exists=False)


def _footer(result: RunResult) -> str:
    notes = " ".join(result.notes)
    return f"{footer(result)}{' · ' + notes if notes else ''}"
