"""The reply pipeline without a platform: the plan, the follower's pace, the ledger's resume,
the queued note becoming the card, the Stop rule, the ledger's keys beside a platform's reply
target, and a surface with only the core."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from heavy_engine import (
    Accepted,
    Done,
    HeavyConfig,
    HeavyRequest,
    RequestRejected,
    Run,
    RunResult,
    SynthesisDelta,
)
from heavy_engine.delivery import (
    AnswerLimits,
    Follower,
    Ledger,
    LedgerState,
    Part,
    ReplyPipeline,
    Surface,
    failure_sentence,
    may_stop,
    plan_answer,
)
from heavy_engine.jobs import Job, JobSpec
from heavy_engine.progress import ProgressState

LIMITS = AnswerLimits(part_chars=100, max_parts=3, attach_over=250, head_parts=2)
PARA = "word " * 15  # 75 characters: one paragraph per part at a 100-character limit


@pytest.mark.parametrize(("text", "parts", "attach", "cut"), [
    ("short", 1, False, False),  # one part, nothing attached
    ("", 1, False, False),  # empty: the placeholder part
    ("\n\n".join([PARA] * 3), 3, False, False),  # at the cap, under `attach_over`
    ("\n\n".join([PARA] * 4), 2, True, True),  # over the cap: the head, the rest attached
])
def test_plan_answer(text: str, parts: int, attach: bool, cut: bool) -> None:
    plan = plan_answer(text, LIMITS)
    assert (len(plan.parts), plan.attach, plan.cut) == (parts, attach, cut)
    assert all(len(p) <= LIMITS.part_chars for p in plan.parts)


def test_a_split_never_breaks_a_code_fence() -> None:
    code = "```python\n" + "\n".join(f"x_{i} = {i}" for i in range(40)) + "\n```"
    plan = plan_answer(code, AnswerLimits(part_chars=120, max_parts=10))
    assert len(plan.parts) > 1 and all(p.count("```") % 2 == 0 for p in plan.parts)


@pytest.mark.parametrize(("error", "expected"), [
    ("boom\nTraceback (most recent call last):", "boom"),  # the first line only
    (None, "Something went wrong while answering."),  # no detail: the fallback
    ("  spaced   out  ", "spaced out"),  # one line, whitespace collapsed
])
def test_failure_sentence(error: str | None, expected: str) -> None:
    assert failure_sentence(error) == expected


@pytest.mark.parametrize(("user", "requester", "admin", "allowed"), [
    ("U1", "U1", False, True),  # the person who asked
    ("U2", "U1", True, True),  # an admin of the place
    ("U2", "U1", False, False),  # anyone else
])
def test_who_may_stop(user: str, requester: str, admin: bool, allowed: bool) -> None:
    assert may_stop(user, requester, admin) is allowed


def _run(job_id: str = "j1") -> Run:
    return Run(HeavyRequest("Q?", HeavyConfig(), id=job_id))


def _result(answer: str = "The answer.", status: str = "ok") -> RunResult:
    return RunResult(request_id="j1", question="Q?", status=status,  # type: ignore[arg-type]
                     answer=answer)


async def test_the_follower_merges_what_arrives_while_the_consumer_sends() -> None:
    run = _run()
    follower = Follower(run, ProgressState(), interval=0.05, tick=10)
    seen: list[str] = []

    async def produce() -> None:
        run.emit(Accepted(request_id="j1", question="Q?", agents=1))
        for word in ("a ", "b ", "c ", "d "):
            run.emit(SynthesisDelta(text=word))
            await asyncio.sleep(0.01)
        run.emit(Done(result=_result("a b c d")))

    producer = asyncio.create_task(produce())
    async for state in follower.turns():
        seen.append(state.synthesis)
        await asyncio.sleep(0.03)  # a slow send
    await producer
    assert len(seen) < 6  # merged, not one turn per event
    assert seen[-1] == "a b c d "  # and the last turn is the final state


async def test_the_follower_ticks_while_nothing_happens() -> None:
    run = _run()
    follower = Follower(run, ProgressState(), interval=0.0, tick=0.05)
    run.emit(Accepted(request_id="j1", question="Q?", agents=1))
    turns = 0
    async for state in follower.turns():
        turns += 1
        if turns == 4:
            run.emit(Done(result=_result()))
        if state.result is not None:
            break
    assert turns >= 5  # three idle ticks after the first turn, then the final one


@dataclass
class Recorder:
    """A platform that records what it was asked to send."""

    interval: float = 0.0
    tick: float = 5.0
    sent: list[str] = field(default_factory=list)
    next_id: int = 0

    def pace(self, job: Job) -> None:
        return None

    def _id(self) -> str:
        self.next_id += 1
        return f"m{self.next_id}"

    async def open(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        if ledger.card is None:
            self.sent.append("card")
            await ledger.record(card=self._id())
        else:
            self.sent.append(f"reuse {ledger.card}")

    async def progress(self, job: Job, ledger: Ledger, state: ProgressState) -> float | None:
        return None

    async def final_card(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        self.sent.append("final card")

    async def finish_live(self, *args: Any) -> bool:
        return False

    def answer_parts(self, job: Job, result: RunResult) -> list[Part] | None:
        if not result.answer:
            return None
        return [Part(i, f"part {i}", last=i == 2) for i in range(3)]

    async def send_part(self, job: Job, ledger: Ledger, part: Part) -> None:
        self.sent.append(part.text or "")

    async def send_failure(self, job: Job, ledger: Ledger, result: RunResult,
                           state: ProgressState) -> None:
        self.sent.append(f"failed: {result.error}")

    async def say_failed(self, job: Job, sentence: str) -> None:
        self.sent.append(sentence)

    async def closed(self, job: Job, result: RunResult | None) -> None:
        self.sent.append("closed")

    async def release(self, job: Job) -> None:
        return None

    async def show_queued(self, job: Job, ledger: Ledger) -> str | None:
        self.sent.append(f"queued {job.position}")
        return self._id()

    async def stopped_in_queue(self, job: Job, ledger: Ledger) -> None:
        self.sent.append("stopped in queue")


class Runner:
    """Just what the pipeline uses of a runner: the job record is the only state."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.saved: list[dict[str, Any]] = []
        self.result_stored = asyncio.Event()
        self.result_stored.set()

    async def save_reply(self, job: Job) -> None:
        self.saved.append(dict(job.reply))

    async def stored(self, job: Job) -> None:
        await self.result_stored.wait()

    async def submit(self, spec: JobSpec) -> Job:
        self.job.position = 2
        return self.job

    async def get_job(self, job_id: str) -> Job:
        return self.job

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        self.job.stopped_by, self.job.status = by, "cancelled"
        return True


def _job(reply: dict[str, Any] | None = None) -> Job:
    spec = JobSpec("test", "", "c", "U1", "Q?", reply=dict(reply or {}))
    return Job(id="j1", spec=spec, config=HeavyConfig())


async def _deliver(job: Job, result: RunResult) -> tuple[Recorder, Runner]:
    surface, runner = Recorder(), Runner(job)
    pipeline = ReplyPipeline(runner, surface, name="test")  # type: ignore[arg-type]
    run = _run()
    run.emit(Done(result=result))
    await pipeline.deliver(job, run)
    return surface, runner


async def test_a_delivery_resumes_after_the_parts_already_sent() -> None:
    job = _job({"card": "m9", "parts": 1})  # as saved before a restart
    surface, runner = await _deliver(job, _result())
    assert surface.sent == ["reuse m9", "final card", "part 1", "part 2", "closed"]
    assert [s.get("parts") for s in runner.saved] == [2, 3, 3]
    assert runner.saved[-1]["answered"] is True


async def test_no_answer_goes_out_before_the_runner_has_stored_the_result() -> None:
    job = _job()
    surface, runner = Recorder(), Runner(job)
    runner.result_stored.clear()
    pipeline = ReplyPipeline(runner, surface, name="test")  # type: ignore[arg-type]
    run = _run()
    run.emit(Done(result=_result()))
    delivery = asyncio.create_task(pipeline.deliver(job, run))
    await asyncio.sleep(0.1)
    assert "final card" in surface.sent  # the delivery got this far...
    assert not any(s.startswith("part") for s in surface.sent)  # ...and holds the answer
    runner.result_stored.set()
    await delivery
    assert surface.sent[-4:] == ["part 0", "part 1", "part 2", "closed"]


async def test_an_answered_job_sends_nothing() -> None:
    surface, _ = await _deliver(_job({"card": "m9", "answered": True}), _result())
    assert surface.sent == []


async def test_a_run_without_an_answer_says_why() -> None:
    surface, _ = await _deliver(_job(), _result("", "failed"))
    assert surface.sent[-2:] == ["failed: None", "closed"]


async def test_the_queued_note_becomes_the_card_and_a_stop_there_ends_it() -> None:
    job = _job()
    surface, runner = Recorder(), Runner(job)
    pipeline = ReplyPipeline(runner, surface, name="test")  # type: ignore[arg-type]

    async def refuse(sentence: str) -> None:
        raise AssertionError(sentence)

    assert await pipeline.submit(job.spec, refuse) is job
    assert surface.sent == ["queued 2"] and job.reply["card"] == "m1"
    assert await pipeline.stop(job.id, by="U2")
    assert surface.sent[-1] == "stopped in queue" and job.stopped_by == "U2"


async def test_a_follow_up_press_asks_the_stored_question_where_it_is_pressed() -> None:
    job = _job()
    job.spec.thread, job.spec.context, job.spec.flags = "t1", "Earlier.", {"model": "m"}
    job.status = "done"
    pipeline = ReplyPipeline(Runner(job), Recorder(), name="test")  # type: ignore[arg-type]
    asked: list[Job] = []

    async def is_admin(pressed: Job) -> bool:
        asked.append(pressed)
        return False

    reply = Target({"channel": "c"})
    question = await pipeline.press_follow_up(
        "j1", "regenerate", user="U1", workspace="", channel="c", click_id="k",
        is_admin=is_admin, reply=reply, roles=["r1"])
    assert (question.text, question.thread, question.context, question.flags) == (
        "Q?", "t1", "Earlier.", {"model": "m"})
    assert (question.platform, question.channel, question.user) == ("test", "c", "U1")
    assert question.reply is reply and list(question.roles) == ["r1"]
    assert question.dedup_key == "regenerate:j1:k"
    assert asked == []  # the asker pressed: no admin lookup
    with pytest.raises(RequestRejected):  # someone else, not an admin
        await pipeline.press_follow_up("j1", "deeper", user="U2", workspace="", channel="c",
                                       click_id="k", is_admin=is_admin, reply=reply)
    assert asked == [job]


@pytest.mark.parametrize(("reply", "expected"), [
    ({}, LedgerState()),  # nothing recorded yet
    ({"channel": "C1", "thread": "t1", "mention": True}, LedgerState()),  # addressing only
    ({"channel": "C1", "card": 17, "parts": "2"}, LedgerState(card="17", parts=2)),  # loose types
    ({"card": "m1", "answer": "m2", "parts": 3, "answered": True},
     LedgerState("m1", "m2", 3, answered=True)),  # everything recorded
])
def test_the_ledger_reads_only_its_own_keys(reply: dict[str, Any],
                                            expected: LedgerState) -> None:
    assert Ledger(_job(reply), Runner(_job()).save_reply).state == expected


@dataclass(frozen=True)
class Target:
    """A platform's reply target, as plain keys."""

    values: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


async def test_a_new_target_replaces_the_addressing_and_keeps_the_ledger() -> None:
    job = _job({"channel": "C1", "make_thread": True, "card": "m1", "parts": 1})
    runner = Runner(job)
    await Ledger(job, runner.save_reply).retarget(Target({"channel": "C1", "thread": "t1"}))
    assert job.reply == {"channel": "C1", "thread": "t1", "card": "m1", "parts": 1}
    assert runner.saved == [job.reply]  # saved at once


async def test_a_target_may_not_write_the_ledgers_keys() -> None:
    job = _job({"channel": "C1"})
    runner = Runner(job)
    with pytest.raises(ValueError, match=r"ledger's keys \['card'\]"):
        await Ledger(job, runner.save_reply).retarget(Target({"channel": "C1", "card": "m9"}))
    assert job.reply == {"channel": "C1"} and runner.saved == []


class CoreOnly(Surface):
    """A platform with only the core: every capability is the default."""

    interval = 0.0
    tick = 5.0

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def open(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        if ledger.card is None:
            await ledger.record(card="c1")

    async def progress(self, job: Job, ledger: Ledger, state: ProgressState) -> float | None:
        return None

    async def final_card(self, job: Job, ledger: Ledger, state: ProgressState) -> None:
        self.sent.append("final card")

    def answer_parts(self, job: Job, result: RunResult) -> list[Part] | None:
        return [Part(0, result.answer, last=True)] if result.answer else None

    async def send_part(self, job: Job, ledger: Ledger, part: Part) -> None:
        self.sent.append(part.text or "")

    async def send_failure(self, job: Job, ledger: Ledger, result: RunResult,
                           state: ProgressState) -> None:
        self.sent.append("failed")

    async def say_failed(self, job: Job, sentence: str) -> None:
        self.sent.append(sentence)


async def test_a_surface_with_only_the_core_queues_and_delivers() -> None:
    job = _job()
    job.attempts = 2  # resumed: the pipeline asks what was posted before (nothing, here)
    surface, runner = CoreOnly(), Runner(job)
    pipeline = ReplyPipeline(runner, surface, name="test")  # type: ignore[arg-type]

    async def refuse(sentence: str) -> None:
        raise AssertionError(sentence)

    assert await pipeline.submit(job.spec, refuse) is job and job.position == 2
    assert job.reply == {}  # no queued note to show, so none recorded
    run = _run()
    run.emit(Done(result=_result()))
    await pipeline.deliver(job, run)
    assert surface.sent == ["final card", "The answer."]
    assert job.reply == {"card": "c1", "parts": 1, "answered": True}
