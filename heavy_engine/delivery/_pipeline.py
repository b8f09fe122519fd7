"""`ReplyPipeline`: the one way a job's run reaches a chat platform.

The steps are the same everywhere: post a progress card (or reuse the queued note), follow the
run at the platform's pace, write the final card, post the answer in parts that resume after a
restart, mark the job answered. Every message it posts carries its `Tag`, and a resumed job
first adopts what a killed attempt posted but never recorded, so nothing is posted twice.
Each platform supplies a `Surface`: render-and-send calls (a small core every platform writes,
plus optional `Capabilities` with defaults), nothing else. Everything the pipeline needs is in
the job record (`job.reply`, `job.stopped_by`, `job.attempts`), so any process holding the
record can deliver the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..conversations import Action, follow_up
from ..core import RequestRejected, Run, RunResult
from ..jobs import Job, JobRunner, JobSpec
from ..progress import ProgressState
from ._follow import Follower, Pace
from ._intake import Asking, Question, ask
from ._ledger import Ledger, ReplyTarget
from ._once import Tag

if TYPE_CHECKING:
    from ..settings import SettingsStore

log = logging.getLogger("heavy.delivery")

# What a Stop press came to, for the platform to say: the run is stopping, it was over
# already, the button is not for a run of this channel, or the presser may not stop it.
StopOutcome = Literal["stopped", "over", "not_here", "not_allowed"]


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of an answer: a message, a file, or both."""

    index: int
    text: str | None
    file: tuple[str, str] | None = None  # (name, content)
    last: bool = False
    footer: str | None = None  # for platforms that show it apart from the text


class Capabilities(Protocol):
    """What a platform may add to the core of its `Surface`. Each default says the platform
    has no such thing, so a surface that subclasses `Surface` overrides only what applies."""

    def pace(self, job: Job) -> Pace | None:
        """An extra gate before each progress update (None: the interval is enough)."""
        return None

    async def posted(self, job: Job, ledger: Ledger) -> Mapping[Tag, str]:
        """The messages (tag -> id) an earlier attempt of `job` posted here. Asked only when
        the job is resumed; empty when the platform's posts are idempotent already (each post
        carries its tag as an idempotency key)."""
        return {}

    async def finish_live(self, job: Job, ledger: Ledger, result: RunResult,
                          state: ProgressState) -> bool:
        """End a live answer in place (a stream); True when nothing more needs posting."""
        return False

    async def show_queued(self, job: Job, ledger: Ledger) -> str | None:
        """Say the job waits at `job.position`; the id of the message that says it (None:
        nothing is shown)."""
        return None

    async def stopped_in_queue(self, job: Job, ledger: Ledger) -> None:
        """A queued job was stopped: no run will ever edit its note."""
        return None

    async def closed(self, job: Job, result: RunResult | None) -> None:
        """The job is over here (reactions...); `result` None when the delivery crashed."""
        return None

    async def release(self, job: Job) -> None:
        """Drop what this process holds for the job (workers, caches), whatever happened."""
        return None


class Surface(Capabilities, Protocol):
    """What a platform supplies: how to render and send; the pipeline decides when.

    The members below are the core every platform implements; the `Capabilities` it inherits
    have defaults. A platform's surface subclasses `Surface` (so mypy refuses one that misses a
    core member) and overrides the capabilities it has."""

    interval: float  # seconds between two progress updates
    tick: float  # redraw at least this often, so elapsed times move

    async def open(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        """Post the progress card unless `ledger.card` exists; record it; set up the rest
        (threads...). Called once per delivery, before any progress."""
        ...

    async def progress(self, job: Job, ledger: Ledger, state: ProgressState) -> float | None:
        """Show `state` (not final); a number is a rate limit's wait before trying again."""
        ...

    async def final_card(self, job: Job, ledger: Ledger, state: ProgressState) -> None: ...

    def answer_parts(self, job: Job, result: RunResult) -> list[Part] | None:
        """The answer's parts, or None when the run has no answer to post."""
        ...

    async def send_part(self, job: Job, ledger: Ledger, part: Part) -> None: ...

    async def send_failure(self, job: Job, ledger: Ledger, result: RunResult,
                           state: ProgressState) -> None:
        """Say why there is no answer (or nothing, e.g. for a stop shown on the card)."""
        ...

    async def say_failed(self, job: Job, sentence: str) -> None:
        """One sentence with the job id as reference; must not raise."""
        ...


class ReplyPipeline:
    """Implements the runner's `Delivery` for one platform."""

    def __init__(self, runner: JobRunner, surface: Surface, *, name: str,
                 settings: SettingsStore | None = None) -> None:
        self.runner = runner
        self.surface = surface
        self.name = name
        self.settings = settings  # the early access check and the help of `ask`
        # Only this process's queued note and its delivery are serialised here; a job is
        # delivered by one process at a time (the runner's rule).
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # job id -> (lock, users)

    def ledger(self, job: Job) -> Ledger:
        return Ledger(job, self.runner.save_reply)

    @contextlib.contextmanager
    def _hold(self, job_id: str) -> Iterator[asyncio.Lock]:
        """The job's lock, kept while anyone holds or waits for it."""
        lock, users = self._locks.get(job_id, (asyncio.Lock(), 0))
        self._locks[job_id] = (lock, users + 1)
        try:
            yield lock
        finally:
            lock, users = self._locks[job_id]
            if users == 1:
                del self._locks[job_id]
            else:
                self._locks[job_id] = (lock, users - 1)

    # -- intake ------------------------------------------------------------------------------

    async def ask(self, question: Question, asking: Asking) -> Job | None:
        """The one way in for every chat entry point (see `_intake`)."""
        return await ask(self, question, asking)

    async def submit(self, spec: JobSpec,
                     refuse: Callable[[str], Awaitable[None]]) -> Job | None:
        """Submit; a refusal is told to the user through `refuse`; a queued job says its
        position. None when nothing was queued (refused or a duplicate)."""
        try:
            job = await self.runner.submit(spec)
        except RequestRejected as err:
            await refuse(err.user_message)
            return None
        if job is not None and job.position > 0:
            await self._show_queued(job)
        return job

    async def _show_queued(self, job: Job) -> None:
        with self._hold(job.id) as lock:
            async with lock:
                if job.status != "queued":
                    return  # started meanwhile: its delivery owns the card already
                ledger = self.ledger(job)
                note = await self.surface.show_queued(job, ledger)
                if note is not None and note != ledger.card:
                    await ledger.record(card=note)

    async def press_stop(self, job_id: str | None, *, user: str, workspace: str, channel: str,
                         is_admin: Callable[[Job], Awaitable[bool]]
                         ) -> tuple[StopOutcome, Job | None]:
        """A Stop button pressed by `user` in `channel`: the one rule for every platform.

        Only the job id comes from the button (it comes back from the client): who asked and
        where are read from the job's record. `is_admin(job)` is asked only when the presser
        is not the asker (it may be a platform API call)."""
        job = await self.runner.get_job(job_id) if job_id else None
        if job_id and job is None:  # e.g. a card older than the job records kept
            return "over", None
        if job is None or not _asked_here(job, self.name, workspace, channel):
            log.info("%s: %s pressed Stop for %s, not a run of %s", self.name, user,
                     job_id or "an unreadable value", channel)
            return "not_here", job
        admin = user != job.spec.user and await is_admin(job)
        if not may_stop(user, job.spec.user, admin):
            return "not_allowed", job
        return ("stopped" if await self.stop(job.id, by=user) else "over"), job

    async def press_follow_up(self, job_id: str, action: Action, *, user: str, workspace: str,
                              channel: str, click_id: str,
                              is_admin: Callable[[Job], Awaitable[bool]], reply: ReplyTarget,
                              roles: Sequence[str] = ()) -> Question:
        """Regenerate or Go deeper pressed by `user` in `channel`: the question to `ask`,
        answered at `reply`; raises `RequestRejected` (a sentence for the presser) when the
        press is refused.

        Like Stop, only the job id comes from the button: the question, its thread, context,
        flags and files come from the job's record, and the press is checked against it
        (`conversations.follow_up`). `is_admin(job)` is asked only when the presser is not
        the asker (it may be a platform API call)."""
        job = await self.runner.get_job(job_id)
        admin = job is not None and user != job.spec.user and await is_admin(job)
        spec = follow_up(job, action, platform=self.name, workspace=workspace, channel=channel,
                         user=user, is_admin=admin, click_id=click_id)
        return Question(
            platform=spec.platform, workspace=spec.workspace, channel=spec.channel,
            user=spec.user, text=spec.question, reply=reply, thread=spec.thread,
            dedup_key=spec.dedup_key, flags=spec.flags, roles=roles, context=spec.context,
            attachments=spec.attachments)

    async def stop(self, job_id: str, by: str) -> bool:
        """Cancel for `by` (who may stop is the adapter's rule: `may_stop`); a job stopped in
        the queue gets its final note here, since no run will ever reach its delivery."""
        job = await self.runner.get_job(job_id)
        queued = job is not None and job.status == "queued"
        if not await self.runner.cancel(job_id, by=by):
            return False
        log.info("job %s stopped by %s", job_id, by)
        if queued and job is not None:
            try:
                await self.surface.stopped_in_queue(job, self.ledger(job))
            except Exception:
                log.exception("showing the stop of queued job %s failed", job_id)
        return True

    # -- delivery ----------------------------------------------------------------------------

    async def deliver(self, job: Job, run: Run) -> None:
        ledger = self.ledger(job)
        if ledger.answered:
            return  # delivered again after the answer went out: nothing left to do
        try:
            await self._deliver(job, ledger, run)
        except asyncio.CancelledError:
            raise  # a shutdown: the job resumes elsewhere or later, from its record
        except Exception:
            # Ours, not the run's (the database, a bug): the user still learns it is over,
            # with the job id the log line carries.
            log.exception("%s delivery of job %s failed", self.name, job.id)
            await self.surface.say_failed(job, "Something went wrong on my side while "
                                               "answering.")
            with contextlib.suppress(Exception):
                await self.surface.closed(job, None)
            raise
        finally:
            await self.surface.release(job)

    async def _deliver(self, job: Job, ledger: Ledger, run: Run) -> None:
        surface = self.surface
        state = ProgressState(question=job.spec.question)
        follower = Follower(run, state, interval=surface.interval, tick=surface.tick,
                            pace=surface.pace(job))
        found = await self._posted(job, ledger)
        with self._hold(job.id) as lock:
            async with lock:  # a queued note on its way becomes the card
                for tag in (Tag.card(job.id), Tag.answer(job.id)):
                    if ledger.message(tag) is None and tag in found:
                        await ledger.record_message(tag, found[tag])
                await surface.open(job, ledger, state)
        follower.sent()
        async with contextlib.aclosing(follower.turns()) as turns:
            async for state in turns:
                if state.result is not None:
                    break
                try:
                    delay = await surface.progress(job, ledger, state)
                except Exception as err:  # a lost progress update must never end the delivery
                    log.warning("progress update for job %s failed: %s", job.id, err)
                    continue
                if delay is not None:
                    follower.hold(delay)
        result = state.result
        assert result is not None
        try:
            await surface.final_card(job, ledger, state)
        except Exception as err:
            log.warning("final card of job %s failed: %s", job.id, err)
        await self._answer(job, ledger, result, state, found)
        await ledger.record(answered=True)
        await surface.closed(job, result)

    async def _posted(self, job: Job, ledger: Ledger) -> Mapping[Tag, str]:
        """What a killed attempt posted without recording it: adopted, never posted again."""
        if job.attempts <= 1:
            return {}  # a first attempt has nothing to find
        try:
            return await self.surface.posted(job, ledger)
        except Exception as err:  # post as before: a duplicate at worst, never no answer
            log.warning("looking for the earlier posts of job %s failed: %s", job.id, err)
            return {}

    async def _answer(self, job: Job, ledger: Ledger, result: RunResult,
                      state: ProgressState, found: Mapping[Tag, str]) -> None:
        surface = self.surface
        try:
            await self.runner.stored(job)  # a retry then replays this very answer
            if await surface.finish_live(job, ledger, result, state):
                return
            parts = surface.answer_parts(job, result)
            if parts is None:
                if Tag.failure(job.id) not in found:
                    await surface.send_failure(job, ledger, result, state)
                return
            for part in parts[ledger.parts:]:  # the first ones went out before a restart
                if Tag.part(job.id, part.index) not in found:
                    await surface.send_part(job, ledger, part)
                await ledger.record(parts=part.index + 1)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Logged with the job id so the reference the user gets leads here.
            log.exception("posting the answer of job %s failed", job.id)
            await surface.say_failed(job, "I could not post the answer here.")


def _asked_here(job: Job, platform: str, workspace: str, channel: str) -> bool:
    """The job is a run of `platform` whose card lives in this workspace's `channel`."""
    spec = job.spec
    return (spec.platform == platform and spec.workspace in ("", workspace)
            and str(spec.reply.get("channel") or spec.channel) == channel)


def may_stop(user: str, requester: str, admin: bool) -> bool:
    """The Stop rule everywhere: the person who asked, or an admin of the place."""
    return user == requester or admin
