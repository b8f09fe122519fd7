"""`SlackDelivery`: renders a run in its thread: progress card, streamed answer, final state.

`job.reply` carries what must survive a restart: the progress and answer message ids, how many
parts of a long answer were sent, and whether the answer is complete, so a job delivered again
edits its messages and never posts any part of the answer twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine import Done, Run, RunResult, SynthesisDelta
from heavy_engine.progress import ProgressState
from heavy_engine.runtime import Job, JobRunner
from heavy_engine.text import footer

from ._answer import AnswerPoster, plan_answer
from ._cards import (
    SECTION_LIMIT,
    answer_message,
    failed_answer,
    failure_sentence,
    failure_text,
    footer_block,
    partial_answer,
    progress_card,
)
from ._slackerr import api_error
from ._stream import STREAM_MAX_CHARS, TRANSIENT, StreamedAnswer
from ._throttle import LiveMessage

log = logging.getLogger("heavy.slack")

WORKING = "hourglass_flowing_sand"
STOPPED = "octagonal_sign"
_FINAL_REACTION = {"ok": "white_check_mark", "cancelled": STOPPED}
_FAILED = "x"


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


class SlackDelivery:
    def __init__(self, client: AsyncWebClient, runner: JobRunner, *, interval: float = 1.0,
                 streaming: bool = False,
                 on_thread: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.runner = runner
        self.interval = interval  # seconds between edits of one message
        self.streaming = streaming  # Slack's streaming API for the answer
        self.tick = max(5.0, interval)  # seconds between refreshes when no event arrives
        self._on_thread = on_thread  # told about every thread we answer in

    async def deliver(self, job: Job, run: Run) -> None:
        try:
            await self._deliver(job, run)
        except Exception:
            # Ours, not the run's (the database, a bug): the thread still learns it is over,
            # with the job id the log line carries.
            log.exception("slack delivery of job %s failed", job.id)
            reply = job.reply
            await _say_failed(self.client, reply, job.id,
                              "Something went wrong on my side while answering.")
            await react(self.client, reply["channel"], reply.get("trigger_ts"), WORKING,
                        remove=True)
            await react(self.client, reply["channel"], reply.get("trigger_ts"), _FAILED)
            raise

    async def _deliver(self, job: Job, run: Run) -> None:
        reply = job.reply
        channel, thread_ts = reply["channel"], reply["thread_ts"]
        if self._on_thread is not None:
            self._on_thread(channel, thread_ts)
        answered = bool(reply.get("answer_done"))
        state = ProgressState()
        progress = LiveMessage(self.client, channel, thread_ts=thread_ts,
                               ts=reply.get("progress_ts"), interval=self.interval,
                               on_posted=lambda ts: self._remember(job, "progress_ts", ts))
        answer = LiveMessage(self.client, channel, thread_ts=thread_ts,
                             ts=reply.get("answer_ts"), interval=self.interval,
                             on_posted=lambda ts: self._remember(job, "answer_ts", ts))
        stream = None
        if self.streaming and not answered and not reply.get("answer_ts"):
            stream = StreamedAnswer(self.client, channel, thread_ts=thread_ts,
                                    team=reply.get("team", ""), user=job.spec.user,
                                    interval=self.interval,
                                    on_started=lambda ts: self._remember(job, "answer_ts", ts))
        ticker = asyncio.get_running_loop().create_task(self._tick(progress, state, job))
        try:
            await progress.post_now(*self._card(state, job))
            async for event in run.stream():
                state.apply(event)
                if isinstance(event, Done):
                    break
                progress.set(*self._card(state, job))
                if isinstance(event, SynthesisDelta) and not answered:
                    if stream is not None and not stream.broken:
                        stream.set(state.synthesis)
                    else:
                        answer.ts = answer.ts or (stream.ts if stream else None)
                        answer.set(*answer_message(partial_answer(state.synthesis,
                                                                  SECTION_LIMIT)))
        except BaseException:
            for live in (progress, answer, stream):
                if live is not None:
                    await live.cancel()
            raise
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        result = state.result
        assert result is not None
        await answer.close()  # let an in-flight edit land before the final one replaces it
        await progress.close(*self._card(state, job))
        await answer.turn()  # the final answer is one more write of that message
        if stream is not None and stream.start_error and stream.start_error not in TRANSIENT:
            log.info("slack: streaming unavailable (%s); editing messages instead",
                     stream.start_error)
            self.streaming = False
        if not answered:
            if stream is None or not await self._finish_stream(job, result, stream, state):
                await self._finish(job, result, answer.ts or (stream.ts if stream else None),
                                   state.synthesis)
        await react(self.client, channel, reply.get("trigger_ts"), WORKING, remove=True)
        await react(self.client, channel, reply.get("trigger_ts"),
                    _FINAL_REACTION.get(result.status, _FAILED))

    async def _tick(self, progress: LiveMessage, state: ProgressState, job: Job) -> None:
        """Refresh the elapsed times while nothing happens (a slow tool call should not look
        like a hang)."""
        while True:
            await asyncio.sleep(self.tick)
            if state.result is None:
                progress.set(*self._card(state, job))

    def _card(self, state: ProgressState, job: Job) -> tuple[str, list[dict[str, Any]]]:
        return progress_card(state, time.monotonic(), job_id=job.id,
                             requester=job.spec.user)

    async def _remember(self, job: Job, key: str, value: Any) -> None:
        job.reply[key] = value
        await self.runner.save_reply(job)

    async def _finish_stream(self, job: Job, result: RunResult, stream: StreamedAnswer,
                             state: ProgressState) -> bool:
        """End a streamed answer in place; False when the usual posting must take over."""
        if stream.ts is None:
            return False
        if result.status == "ok" and result.answer:
            text = result.answer + "".join(f"\n\n_{n}_" for n in result.notes)
            too_long = len(text) > STREAM_MAX_CHARS
            note = ("\n\n_… the full answer is attached as a file._" if too_long else "")
            if not await stream.finish(text, footer_blocks=[footer_block(footer(result))],
                                       note=note):
                return False
            if too_long:
                await self._attach(job, text)
        else:
            sentence = f"\n\n:warning: {failure_sentence(result.error)} (ref `{job.id}`)"
            if not await stream.finish(state.synthesis, footer_blocks=[], note=sentence):
                return False
        job.reply["answer_done"] = True
        await self.runner.save_reply(job)
        return True

    async def _attach(self, job: Job, markdown: str) -> None:
        """The full answer as a file under a streamed one; a failure is said, not raised (the
        streamed part is already there and the job must still reach its final state)."""
        poster = AnswerPoster(self.client, job.reply["channel"], job.reply["thread_ts"])
        try:
            await poster.attach(markdown, f"heavy-{job.id}.md")
        except SlackApiError as err:
            log.error("attaching the answer of job %s failed: %s", job.id, api_error(err))
            await _say_failed(self.client, job.reply, job.id,
                              "I could not attach the full answer here.")

    async def _finish(self, job: Job, result: RunResult, answer_ts: str | None,
                      partial: str) -> None:
        reply = job.reply
        poster = AnswerPoster(self.client, reply["channel"], reply["thread_ts"])
        try:
            if result.status == "ok" and result.answer:
                text = result.answer
                if result.notes:
                    text += "\n\n" + "\n".join(f"_{n}_" for n in result.notes)
                filename = f"heavy-{job.id}.md"
                await poster.post(plan_answer(text, filename=filename), footer=footer(result),
                                  replace_ts=answer_ts, filename=filename,
                                  done=int(reply.get("answer_sent", 0)),
                                  on_sent=lambda n: self._remember(job, "answer_sent", n))
            else:
                await poster.send(failed_answer(partial, failure_text(result.error, job.id)),
                                  None, answer_ts)
        except SlackApiError as err:
            # Logged with the job id so the reference in the thread leads here.
            log.error("posting the answer of job %s failed: %s", job.id, api_error(err))
            await _say_failed(self.client, reply, job.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("posting the answer of job %s crashed", job.id)
            await _say_failed(self.client, reply, job.id)
        reply["answer_done"] = True
        await self.runner.save_reply(job)


async def _say_failed(client: AsyncWebClient, reply: dict[str, Any], ref: str,
                      sentence: str = "I could not post the answer here.") -> None:
    text = failure_text(sentence, ref)
    try:
        await client.chat_postMessage(channel=reply["channel"], thread_ts=reply["thread_ts"],
                                      text=text)
    except SlackApiError:
        log.exception("could not report the failure of job %s", ref)
