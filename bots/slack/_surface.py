"""Slack's `Surface` for the engine's reply pipeline: the progress card, the answer as it is
written (streamed, or an edited message), the final answer and reactions. The pipeline decides
when (`heavy_engine.delivery`); this module renders and sends.

Where to answer is the job's `SlackReply` (channel, thread, the asking message that carries the
reactions...), read from `job.reply`; what was posted is the pipeline's `Ledger`.
Every message posted for the job carries its `Tag` as metadata (`_tags`), which a resumed job
looks for before posting; a streamed answer gets its tag when the stream stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine import RunResult
from heavy_engine.delivery import Ledger, Part, Surface, Tag, failure_sentence
from heavy_engine.jobs import Job
from heavy_engine.progress import ProgressState
from heavy_engine.text import answer_body, footer, run_notes, source_links

from ._answer import attach, plan_answer, send_message
from ._markdown import Blocks, MarkdownPlan, feedback_block
from ._markdown import sources_block as _sources_block
from ._render import (
    answer_actions,
    failed_answer,
    failure_text,
    footer_block,
    partial_answer,
    progress_card,
    queued_card,
    stopped_in_queue_card,
    streamed_card,
    streaming_card,
)
from ._reply import SlackReply
from ._slackerr import api_error, retry_after
from ._tags import attachment_name, metadata, tagged
from .native import STREAM_MAX_CHARS, TRANSIENT, StreamedAnswer, sources_task

log = logging.getLogger("heavy.slack")

WORKING = "hourglass_flowing_sand"
STOPPED = "octagonal_sign"
_FINAL_REACTION = {"ok": "white_check_mark", "cancelled": STOPPED}
_FAILED = "x"
_FINAL_TRIES = 3  # a rate-limited final card is sent again after Retry-After
Payload = tuple[str, list[dict[str, Any]]]  # (fallback text, blocks)


async def react(client: AsyncWebClient, channel: str, ts: str | None, name: str,
                *, remove: bool = False) -> None:
    """Reactions are decoration: `already_reacted`, `no_reaction` and the like are ignored."""
    if not ts:
        return
    try:
        if remove:
            await client.reactions_remove(channel=channel, timestamp=ts, name=name)
        else:
            await client.reactions_add(channel=channel, timestamp=ts, name=name)
    except SlackApiError as err:
        log.debug("reaction %s on %s: %s", name, ts, api_error(err))


@dataclass
class _Live:
    """One delivery's in-process state: what each message shows, and the stream if any."""

    stream: StreamedAnswer | None = None
    card: Payload | None = None
    answer: Payload | None = None
    answer_at: float = 0.0  # loop time of the live answer's last write
    plan: MarkdownPlan | None = None  # the answer's messages, once planned
    attached: bool = False  # an earlier attempt attached the full answer (`posted`)


class SlackSurface(Surface):
    def __init__(self, client: AsyncWebClient, *, interval: float = 1.0,
                 streaming: bool = False,
                 on_thread: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.interval = interval  # seconds between two writes of one message
        self.tick = max(5.0, interval)  # seconds between refreshes when no event arrives
        self.streaming = streaming  # Slack's streaming API for the answer
        self._on_thread = on_thread  # told about every thread we answer in
        self._live: dict[str, _Live] = {}
        self._bot_ids: dict[str, str] = {}  # workspace -> this app's bot id there (auth.test)

    async def posted(self, job: Job, ledger: Ledger) -> dict[Tag, str]:
        """Slack has no idempotency key: read the thread for the job's tagged messages, and,
        when answers stream, for a stream an earlier attempt started but never recorded
        (`_tags`). That stream, or the recorded one, is stopped: the answer edits it. A file
        the job attached already is not attached again."""
        target = SlackReply.from_reply(job.reply)
        asked = target.asked
        orphan = self.streaming and not ledger.answer and asked
        found = await tagged(
            self.client, target.channel, target.thread_ts, job.id, job.created_at,
            stream_after=str(asked) if orphan else None,
            bot_id=await self._bot_id(job.spec.workspace) if orphan else None)
        if found.attached:
            self._live.setdefault(job.id, _Live()).attached = True
        live = found.tags.get(Tag.answer(job.id)) or ledger.answer
        if live and self.streaming:
            try:
                await self.client.chat_stopStream(channel=target.channel, ts=str(live),
                                                  metadata=metadata(Tag.answer(job.id)))
            except SlackApiError as err:  # not a stream, or one Slack already closed
                log.debug("stopping the stream %s of job %s: %s", live, job.id,
                          api_error(err))
        return found.tags

    async def _bot_id(self, workspace: str) -> str | None:
        """This app's bot id in `workspace` (what its messages carry), asked once."""
        if workspace not in self._bot_ids:
            try:
                resp = await self.client.auth_test()
            except SlackApiError as err:
                log.warning("auth.test failed, so an unrecorded stream cannot be found: %s",
                            api_error(err))
                return None
            self._bot_ids[workspace] = str(resp.get("bot_id") or "")
        return self._bot_ids[workspace] or None

    # -- the card ----------------------------------------------------------------------------

    async def open(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        target = SlackReply.from_reply(job.reply)
        if self._on_thread is not None:
            self._on_thread(target.channel, target.thread_ts)
        live = self._live.setdefault(job.id, _Live())  # `posted` may have begun it
        if self.streaming and ledger.answer is None:
            live.stream = StreamedAnswer(
                self.client, target.channel, thread_ts=target.thread_ts,
                team=target.team, user=job.spec.user, interval=self.interval,
                on_started=lambda ts: ledger.record(answer=ts),
                metadata=metadata(Tag.answer(job.id)))
        if live.stream is not None:
            # The streamed message shows the agents as tasks, but takes buttons only when it
            # stops: the card (or the queued note it becomes) is a small message with Stop,
            # posted before the stream starts so it is there as soon as the agents are.
            card = streaming_card(job_id=job.id, requester=job.spec.user)
            try:
                await self._post_or_edit(job, ledger, Tag.card(job.id), ledger.card, card)
                live.card = card
            except SlackApiError as err:  # the stream still runs; only Stop is missing
                log.info("could not show the Stop of job %s: %s", job.id, api_error(err))
            live.stream.show(state)
            return
        await self._show_card(job, ledger, live, self._card(job, state))

    async def _show_card(self, job: Job, ledger: Ledger, live: _Live, card: Payload) -> None:
        """Post the card, or edit it (the queued note, the card from before a restart, the
        fallback card of a stream Slack closed)."""
        if card == live.card:
            return
        await self._post_or_edit(job, ledger, Tag.card(job.id), ledger.card, card)
        live.card = card

    async def _post_or_edit(self, job: Job, ledger: Ledger, tag: Tag, ts: str | None,
                            payload: Payload) -> None:
        """Edit the ledger's message `tag.key` (at `ts`), or post it and record where it went."""
        target = SlackReply.from_reply(job.reply)
        if ts is None:
            resp = await self.client.chat_postMessage(
                channel=target.channel, thread_ts=target.thread_ts, text=payload[0],
                blocks=payload[1], metadata=metadata(tag))
            await ledger.record_message(tag, str(resp["ts"]))
        else:
            await self._update(target.channel, ts, payload)

    async def progress(self, job: Job, ledger: Ledger, state: ProgressState) -> float | None:
        live = self._live[job.id]
        if live.stream is not None and not live.stream.broken:
            live.stream.show(state)  # sent at the stream's own pace, only what changed
            return None
        try:
            # No stream, or Slack closed it: the card shows the agents instead.
            await self._show_card(job, ledger, live, self._card(job, state))
            if state.synthesis:
                await self._show_synthesis(job, ledger, live, state.synthesis)
        except SlackApiError as err:
            delay = retry_after(err)
            if delay is None:
                log.warning("updating a message of job %s failed: %s", job.id, api_error(err))
                return None
            log.info("rate limited on job %s; retrying in %.1fs", job.id, delay)
            return delay
        except (OSError, TimeoutError, ClientError) as err:
            # The network, not Slack: this edit is lost, the next one may get through.
            log.warning("updating a message of job %s failed: %s", job.id, type(err).__name__)
        return None

    async def _show_synthesis(self, job: Job, ledger: Ledger, live: _Live,
                              synthesis: str) -> None:
        if live.stream is not None and not live.stream.broken:
            live.stream.set(synthesis)
            return
        message = partial_answer(synthesis)
        payload = (message.text, message.blocks)
        if payload == live.answer:
            return
        await self._post_or_edit(job, ledger, Tag.answer(job.id), ledger.answer, payload)
        live.answer = payload
        live.answer_at = asyncio.get_running_loop().time()

    async def _answer_turn(self, job: Job) -> None:
        """Wait until the live answer may be written again (its final write comes next)."""
        live = self._live.get(job.id)
        if live is not None:
            wait = live.answer_at + self.interval - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)

    async def final_card(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        live = self._live[job.id]
        if live.stream is not None and not live.stream.broken:
            live.stream.show(state)  # the tasks' final states; finish_live stops the stream
            if ledger.card is not None and state.result is not None:
                try:  # the Stop beside the stream says how the run ended
                    await self._update(SlackReply.from_reply(job.reply).channel, ledger.card,
                                       streamed_card(state.result.status))
                except SlackApiError as err:
                    log.info("could not end the Stop of job %s: %s", job.id, api_error(err))
            return
        if ledger.card is None:  # a stream Slack refused or closed early: its fallback card
            try:
                await self._show_card(job, ledger, live, self._card(job, state))
            except SlackApiError as err:
                log.info("the fallback card of job %s: %s", job.id, api_error(err))
        if state.synthesis:
            # What was written last shows at once; the answer replaces it in its turn.
            try:
                await self._show_synthesis(job, ledger, live, state.synthesis)
            except SlackApiError as err:
                log.info("the last partial answer of job %s: %s", job.id, api_error(err))
        card = self._card(job, state)
        if ledger.card is None or card == live.card:
            return
        for _ in range(_FINAL_TRIES):
            try:
                await self._update(SlackReply.from_reply(job.reply).channel, ledger.card,
                                   card)
                return
            except SlackApiError as err:
                delay = retry_after(err)
                if delay is None:
                    raise
                await asyncio.sleep(max(delay, self.interval))

    async def show_queued(self, job: Job, ledger: Ledger) -> str | None:
        target = SlackReply.from_reply(job.reply)
        text, blocks = queued_card(job.position, job_id=job.id, requester=job.spec.user)
        try:
            resp = await self.client.chat_postMessage(
                channel=target.channel, thread_ts=target.thread_ts, text=text,
                blocks=blocks, metadata=metadata(Tag.card(job.id)))  # the note becomes the card
        except SlackApiError as err:
            log.warning("could not show the queue position: %s", api_error(err))
            return None
        return str(resp["ts"])

    async def stopped_in_queue(self, job: Job, ledger: Ledger) -> None:
        target = SlackReply.from_reply(job.reply)
        if ledger.card is not None:
            try:
                await self._update(target.channel, ledger.card, stopped_in_queue_card())
            except SlackApiError as err:  # e.g. the note was deleted: the reactions still change
                log.info("could not update the queued note %s: %s", ledger.card,
                         api_error(err))
        await react(self.client, target.channel, target.trigger_ts, WORKING, remove=True)
        await react(self.client, target.channel, target.trigger_ts, STOPPED)

    # -- the answer --------------------------------------------------------------------------

    async def finish_live(self, job: Job, ledger: Ledger, result: RunResult,
                          state: ProgressState) -> bool:
        """End a streamed answer in place; False when the usual posting must take over."""
        live = self._live.get(job.id)
        stream = live.stream if live is not None else None
        if stream is None:
            return False
        await stream.settle()
        if stream.start_error and stream.start_error not in TRANSIENT:
            log.info("slack: streaming unavailable (%s); editing messages instead",
                     stream.start_error)
            self.streaming = False
        if stream.ts is None:
            return False
        if result.status == "ok" and result.answer:
            text = _answer_text(result)
            too_long = len(text) > STREAM_MAX_CHARS
            note = ("\n\n_… the full answer is attached as a file._" if too_long else "")
            # The sources ride on the stream as its URL-sources element, under the tasks.
            sources = sources_task(source_links(result))
            tail = answer_tail(job, result, sources_block=sources is None)
            if not await stream.finish(text, footer_blocks=[footer_block(footer(result)), *tail],
                                       note=note, last=[sources] if sources else ()):
                return False
            if too_long:
                await self._attach_under_stream(job, text)
        else:
            sentence = ("\n\n:octagonal_sign: Stopped before the answer was finished."
                        if result.status == "cancelled" else
                        f"\n\n:warning: {failure_sentence(result.error)} (ref `{job.id}`)")
            if not await stream.finish(state.synthesis, footer_blocks=[], note=sentence):
                return False
        return True

    async def _attach_under_stream(self, job: Job, markdown: str) -> None:
        """A failure is said, not raised: the streamed part is already there."""
        live = self._live.get(job.id)
        if live is not None and live.attached:
            return
        try:
            target = SlackReply.from_reply(job.reply)
            await attach(self.client, target.channel, target.thread_ts, markdown,
                         attachment_name(job.id))
        except SlackApiError as err:
            log.error("attaching the answer of job %s failed: %s", job.id, api_error(err))
            await self.say_failed(job, "I could not attach the full answer here.")

    def answer_parts(self, job: Job, result: RunResult) -> list[Part] | None:
        if result.status != "ok" or not result.answer:
            return None
        filename = attachment_name(job.id)
        plan = plan_answer(_answer_text(result), filename=filename, footer=footer(result),
                           tail=answer_tail(job, result))
        live = self._live.get(job.id)
        if live is not None:  # send_part posts these messages, in this process
            live.plan = plan
        count = len(plan.messages) + (plan.attachment is not None)
        parts = [Part(i, message.text, last=i == count - 1,
                      footer=footer(result) if i == len(plan.messages) - 1 else None)
                 for i, message in enumerate(plan.messages)]
        if plan.attachment is not None:  # last: the summary says it is there
            parts.append(Part(count - 1, None, (filename, plan.attachment), last=True))
        return parts

    async def send_part(self, job: Job, ledger: Ledger, part: Part) -> None:
        target = SlackReply.from_reply(job.reply)
        live = self._live.get(job.id)
        if part.text is not None and live is not None and live.plan is not None:
            if part.index == 0 and ledger.answer is not None:
                await self._answer_turn(job)
            await send_message(self.client, target.channel, target.thread_ts,
                               live.plan.messages[part.index],
                               ledger.answer if part.index == 0 else None,
                               metadata=metadata(Tag.part(job.id, part.index)))
        if part.file is not None and not (live is not None and live.attached):
            await attach(self.client, target.channel, target.thread_ts, part.file[1],
                         part.file[0])

    async def send_failure(self, job: Job, ledger: Ledger, result: RunResult,
                           state: ProgressState) -> None:
        target = SlackReply.from_reply(job.reply)
        if ledger.answer is not None:
            await self._answer_turn(job)
        await send_message(self.client, target.channel, target.thread_ts,
                           failed_answer(state.synthesis, failure_text(result.error, job.id)),
                           ledger.answer, metadata=metadata(Tag.failure(job.id)))

    async def say_failed(self, job: Job, sentence: str) -> None:
        target = SlackReply.from_reply(job.reply)
        try:
            await self.client.chat_postMessage(channel=target.channel,
                                               thread_ts=target.thread_ts,
                                               text=failure_text(sentence, job.id))
        except SlackApiError:
            log.exception("could not report the failure of job %s", job.id)

    async def release(self, job: Job) -> None:
        live = self._live.pop(job.id, None)
        if live is not None and live.stream is not None:
            await live.stream.cancel()

    async def closed(self, job: Job, result: RunResult | None) -> None:
        target = SlackReply.from_reply(job.reply)
        await react(self.client, target.channel, target.trigger_ts, WORKING, remove=True)
        final = _FAILED if result is None else _FINAL_REACTION.get(result.status, _FAILED)
        await react(self.client, target.channel, target.trigger_ts, final)

    # -- helpers -----------------------------------------------------------------------------

    def _card(self, job: Job, state: ProgressState) -> Payload:
        return progress_card(state, time.monotonic(), job_id=job.id, requester=job.spec.user)

    async def _update(self, channel: str, ts: str, payload: Payload) -> None:
        await self.client.chat_update(channel=channel, ts=ts, text=payload[0],
                                      blocks=payload[1])


def _answer_text(result: RunResult) -> str:
    """The answer without its Sources list (shown natively below it), then the run's notes."""
    notes = run_notes(result)
    return answer_body(result) + ("\n\n" + "\n".join(f"_{n}_" for n in notes) if notes else "")


def answer_tail(job: Job, result: RunResult, *, sources_block: bool = True) -> Blocks:
    """What ends a final answer: its sources (unless the stream shows them), Regenerate / Go
    deeper, then the feedback buttons (last, where Slack shows them)."""
    sources = _sources_block(source_links(result)) if sources_block else None
    return [*([sources] if sources else []), answer_actions(job.id), feedback_block(job.id)]
