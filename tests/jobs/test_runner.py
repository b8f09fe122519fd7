"""The durable runner against a real SQLite database and the fake LLM server."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from heavy_engine import RequestRejected
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, Job, JobRejected, JobStore
from heavy_engine.jobs._results import result_from_dict
from heavy_engine.testing import FakeLLM, hang_reply

from .conftest import MakeRunner, RecordingDelivery, StoredFirstDelivery, settle, spec


async def _status(runner: DurableRunner, job_id: str) -> str | None:
    stored = await runner.store.get(job_id)
    return stored.status if stored else None


async def test_a_job_is_recorded_run_delivered_once_and_stored(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    runner = await make_runner()
    delivery = RecordingDelivery()
    delivery.runner = runner
    runner.register_delivery("slack", delivery)
    job = await runner.submit(spec())
    assert job is not None and job.position == 0
    await settle(runner)
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.status == "done"
    assert stored.attempts == 1 and stored.started_at and stored.finished_at
    assert stored.result is not None and "Answer" in stored.result.answer
    assert stored.result.usage.prompt_tokens > 0 and stored.result.usage.cost_usd > 0
    assert [a.status for a in stored.result.agents] == ["ok", "ok"]
    assert stored.reply == {"answered": True}
    assert delivery.posted == [(job.id, stored.result.answer)]
    assert len(fake.calls("synthesis")) == 1


async def test_the_row_exists_before_anything_runs(make_runner: MakeRunner, db: Database) -> None:
    runner = await make_runner(start=False)  # accepting, not launching yet
    job = await runner.submit(spec())
    assert job is not None
    stored = await JobStore(db, job.config).get(job.id)
    assert stored is not None and stored.status == "queued" and stored.attempts == 0
    assert stored.config == job.config  # the resolved settings snapshot


async def test_one_busy_user_waits_while_others_go_ahead(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    fake.latency = 0.05
    runner = await make_runner(limits={"per_user": 1, "max_concurrent_jobs": 4})
    first = await runner.submit(spec(user="U1"))
    second = await runner.submit(spec(user="U1"))
    other = await runner.submit(spec(user="U2"))
    assert first and second and other
    assert (first.position, second.position, other.position) == (0, 1, 0)
    assert (first.status, second.status, other.status) == ("running", "queued", "running")
    await settle(runner)
    for job in (first, second, other):
        stored = await runner.store.get(job.id)
        assert stored is not None and stored.status == "done"


async def test_queue_positions_follow_the_global_limit(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    fake.latency = 0.05
    runner = await make_runner(limits={"max_concurrent_jobs": 1, "per_user": 5})
    jobs = [await runner.submit(spec(user=f"U{i}")) for i in range(3)]
    assert [j.position for j in jobs if j] == [0, 1, 2]
    await settle(runner)
    assert runner.counts() == (0, 0)


@pytest.mark.parametrize(("limits", "users", "reason", "sentence"), [
    # the same user already has one waiting, and only one may wait
    ({"per_user": 1, "max_queued_per_user": 1}, ["U1", "U1", "U1"], "user_queue",
     "You already have 1 question waiting (the limit is 1)"),
    # no waiting allowed at all for a user with a job running
    ({"per_user": 1, "max_queued_per_user": 0}, ["U1", "U1"], "user_queue",
     "You already have a question running"),
    # the whole process queue is full, whoever asks
    ({"max_concurrent_jobs": 1, "max_queued": 1}, ["U1", "U2", "U3"], "busy",
     "heavy is busy: 1 questions are already waiting"),
])
async def test_limits_refuse_with_a_sentence_for_the_requester(
    make_runner: MakeRunner, fake: FakeLLM, limits: dict[str, int], users: list[str],
    reason: str, sentence: str,
) -> None:
    fake.enqueue(*[hang_reply() for _ in users], when="decompose")
    runner = await make_runner(limits=limits)
    for user in users[:-1]:
        assert await runner.submit(spec(user=user, dedup_key=None))
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec(user=users[-1], dedup_key="ev-last"))
    assert caught.value.reason == reason
    assert sentence in str(caught.value)
    # The refusal is recorded, so a platform retry of the same event is dropped silently.
    assert await runner.submit(spec(user=users[-1], dedup_key="ev-last")) is None
    refused = await runner.store.find("slack", "ev-last")
    assert refused is not None and refused.status == "failed" and refused.error == str(
        caught.value)


async def test_concurrent_submissions_share_commits_and_keep_the_limits_exact(
    make_runner: MakeRunner, fake: FakeLLM,
) -> None:
    fake.enqueue(*[hang_reply() for _ in range(2)], when="decompose")
    runner = await make_runner(limits={"max_concurrent_jobs": 2, "max_queued": 5,
                                       "per_user": 1, "max_queued_per_user": 1})
    users = [f"U{i % 6}" for i in range(20)]  # six users, several submissions each at once
    results = await asyncio.gather(*(runner.submit(spec(user=u, dedup_key=None))
                                     for u in users), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, JobRejected)]
    assert len(accepted) + len(refused) == 20
    assert sorted(j.position for j in accepted) == [0, 0, 1, 2, 3, 4, 5]
    waiting = Counter(j.spec.user for j in accepted if j.position)
    assert max(waiting.values()) == 1  # one waiting question per user, exactly
    assert runner.backend._rows.batches <= 3  # 20 submissions, a few commits
    assert runner.counts() == (5, 2)


async def test_daily_budgets_refuse_once_spent(make_runner: MakeRunner) -> None:
    runner = await make_runner(limits={"daily_tokens_per_channel": 1})
    assert await runner.submit(spec(channel="C1"))
    await settle(runner)
    with pytest.raises(JobRejected, match="This channel has used its daily budget of 1 tokens"):
        await runner.submit(spec(channel="C1"))
    assert await runner.submit(spec(channel="C2"))  # another channel has its own budget
    await settle(runner)


async def test_workspace_cost_budget(make_runner: MakeRunner) -> None:
    runner = await make_runner(limits={"daily_cost_per_workspace": 1e-9})
    assert await runner.submit(spec(channel="C1"))
    await settle(runner)
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec(channel="C2"))
    assert caught.value.reason == "budget"
    assert "This workspace has used its daily budget of $0.00" in str(caught.value)


async def test_budgets_reset_at_midnight_utc(make_runner: MakeRunner) -> None:
    now = [datetime(2026, 11, 23, 23, 59, tzinfo=UTC)]
    runner = await make_runner(limits={"daily_tokens_per_channel": 1}, clock=lambda: now[0])
    assert await runner.submit(spec())
    await settle(runner)
    now[0] = datetime(2026, 11, 24, 0, 1, tzinfo=UTC)
    assert await runner.submit(spec())
    await settle(runner)


async def test_a_duplicate_dedup_key_yields_no_second_job(make_runner: MakeRunner) -> None:
    runner = await make_runner()
    assert await runner.submit(spec(dedup_key="Ev1"))
    assert await runner.submit(spec(dedup_key="Ev1")) is None
    assert await runner.submit(spec(dedup_key="Ev1", platform="discord")) is not None
    await settle(runner)


async def test_bad_input_raises_before_any_row(make_runner: MakeRunner) -> None:
    runner = await make_runner()
    with pytest.raises(RequestRejected, match="empty"):
        await runner.submit(spec("   ", dedup_key="blank"))
    assert await runner.store.find("slack", "blank") is None


async def test_cancel_a_queued_and_a_running_job(make_runner: MakeRunner, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    runner = await make_runner(limits={"max_concurrent_jobs": 1, "per_user": 5})
    running = await runner.submit(spec())
    waiting = await runner.submit(spec())
    last = await runner.submit(spec())
    assert running and waiting and last and last.position == 2
    assert await runner.cancel(waiting.id)
    assert last.position == 1
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    assert await runner.cancel(running.id)
    await settle(runner)
    statuses = [await _status(runner, j.id) for j in (running, waiting, last)]
    assert statuses == ["cancelled", "cancelled", "done"]
    assert not await runner.cancel(running.id)  # already over
    assert not await runner.cancel("nope")


async def test_a_failing_delivery_fails_the_job_but_keeps_the_answer(
    make_runner: MakeRunner,
) -> None:
    class Broken:
        async def deliver(self, job: object, run: object) -> None:
            raise RuntimeError("chat API down, token xoxb-123456789-abcdefghij")

    runner = await make_runner()
    runner.register_delivery("slack", Broken())
    job = await runner.submit(spec())
    assert job is not None
    await settle(runner)
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error == "The answer could not be delivered."
    assert stored.result is not None and stored.result.answer


async def test_submissions_after_shutdown_are_refused(make_runner: MakeRunner) -> None:
    runner = await make_runner()
    await runner.shutdown(1)
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec())
    assert caught.value.reason == "shutting_down"


async def test_shutdown_lets_running_jobs_finish_within_the_grace(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    fake.latency = 0.1
    runner = await make_runner(limits={"max_concurrent_jobs": 1, "per_user": 5})
    running = await runner.submit(spec())
    waiting = await runner.submit(spec())
    assert running and waiting
    await runner.shutdown(5)
    assert await _status(runner, running.id) == "done"
    # Not started: it stays queued in the database for the next process.
    assert await _status(runner, waiting.id) == "queued"


async def test_shutdown_interrupts_after_the_grace_and_the_next_start_finishes_it(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    first = await make_runner()
    delivery = RecordingDelivery()
    first.register_delivery("slack", delivery)
    job = await first.submit(spec())
    assert job is not None
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    await first.shutdown(0.05)
    stored = await first.store.get(job.id)
    assert stored is not None and stored.status == "interrupted" and stored.attempts == 1
    assert delivery.posted == []  # the cancellation was not shown as an answer

    second = await make_runner(start=False)
    again = RecordingDelivery()
    again.runner = second
    second.register_delivery("slack", again)
    assert await second.start() == 1
    await settle(second)
    stored = await second.store.get(job.id)
    assert stored is not None and stored.status == "done" and stored.attempts == 2
    assert len(again.posted) == 1


async def test_recovery_replays_a_finished_run_without_calling_the_model(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    first = await make_runner()
    job = await first.submit(spec())
    assert job is not None
    await settle(first)
    # Simulate a crash after the result was stored but before the job was marked done.
    done = await first.store.get(job.id)
    assert done is not None and done.result is not None
    done.status = "running"
    await first.store.save(done)
    calls = len(fake.calls())

    second = await make_runner(start=False)
    delivery = RecordingDelivery()
    second.register_delivery("slack", delivery)
    await second.start()
    await settle(second)
    assert len(fake.calls()) == calls  # nothing asked twice
    assert delivery.posted == [(job.id, done.result.answer)]
    stored = await second.store.get(job.id)
    assert stored is not None and stored.status == "done"


async def test_recovery_does_not_post_an_answer_already_posted(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    first = await make_runner()
    delivery = RecordingDelivery()
    delivery.runner = first
    first.register_delivery("slack", delivery)
    job = await first.submit(spec())
    assert job is not None
    await settle(first)
    stored = await first.store.get(job.id)
    assert stored is not None
    stored.status = "running"  # crashed after posting, before recording "done"
    await first.store.save(stored)

    second = await make_runner(start=False)
    second.register_delivery("slack", delivery)
    await second.start()
    await settle(second)
    assert delivery.posted == [(job.id, stored.result.answer)]  # type: ignore[union-attr]
    assert delivery.seen == [job.id, job.id]


async def test_a_job_interrupted_too_often_fails_with_a_message(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    first = await make_runner(start=False)
    job = await first.submit(spec())
    assert job is not None
    job.status, job.attempts = "running", 3
    await first.store.save(job)
    second = await make_runner(start=False, max_attempts=3)
    delivery = RecordingDelivery()
    second.register_delivery("slack", delivery)
    await second.start()
    await settle(second)
    stored = await second.store.get(job.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error == "This question was interrupted 3 times; giving up."
    assert delivery.posted == [(job.id, stored.error)]
    assert fake.calls() == []


def test_stored_results_round_trip() -> None:
    data = {"request_id": "j1", "status": "ok", "answer": "A", "questions": ["q"],
            "agents": [{"index": 0, "role": "sceptic", "revised": True,
                        "question": "q", "model": "m", "status": "ok",
                        "iterations": 2, "elapsed_s": 1.5, "error": None,
                        "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                                  "cached_tokens": 2, "cost_usd": 0.5}}],
            "llm_calls": 3, "elapsed_s": 2.0, "usage": {"prompt_tokens": 5,
                                                          "completion_tokens": 6,
                                                          "cached_tokens": 2,
                                                          "cost_usd": 0.75},
            "models": ["m"], "simulated": False, "error": None, "notes": ["n"],
            "sources": [{"url": "https://a.example/x", "title": "X"}],
            "unverified": ["https://made.up/"], "stopped_by": "token budget (10 tokens)"}
    assert result_from_dict(data, "Q").as_dict() == data
    del data["usage"]["cached_tokens"]  # a result stored before cached tokens were kept
    assert result_from_dict(data, "Q").usage.cached_tokens == 0


async def test_runs_concurrently_up_to_the_limit(make_runner: MakeRunner, fake: FakeLLM) -> None:
    fake.latency = 0.05
    runner = await make_runner(limits={"max_concurrent_jobs": 3, "per_user": 10,
                                       "per_channel": 10, "max_queued_per_user": 10})
    jobs = [await runner.submit(spec()) for _ in range(5)]
    assert runner.counts() == (2, 3)
    await asyncio.wait_for(runner.drain(), 10)
    assert [await _status(runner, j.id) for j in jobs if j] == ["done"] * 5


async def test_cancel_right_after_submit_ends_the_run_and_its_delivery(
    make_runner: MakeRunner,
) -> None:
    runner = await make_runner()
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    job = await runner.submit(spec())
    assert job is not None and job.status == "running"
    assert await runner.cancel(job.id)  # before the run even exists
    await settle(runner)
    assert await _status(runner, job.id) == "cancelled"
    assert delivery.posted == [(job.id, "The request was cancelled.")]


async def test_a_job_submitted_while_start_reads_the_table_runs_once(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    # `heavy serve` takes chat events and API calls before `start()` has finished recovering:
    # a job inserted while the unfinished rows are read must not be queued a second time.
    runner = await make_runner(start=False)
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    read_unfinished = runner.store.unfinished
    submitted = []

    async def unfinished_with_a_submission_meanwhile() -> list[Job]:
        submitted.append(await runner.submit(spec()))
        return await read_unfinished()

    runner.store.unfinished = unfinished_with_a_submission_meanwhile  # type: ignore[method-assign]
    assert await runner.start() == 0
    await settle(runner)
    job = submitted[0]
    assert job is not None
    assert delivery.seen == [job.id]
    assert len(fake.calls("synthesis")) == 1
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.status == "done" and stored.attempts == 1


async def test_a_queued_job_is_refused_at_start_once_the_budget_is_spent(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    # Usage lands when a job ends, so everything queued behind the first job passed the check
    # at submission; without a second look at start, a queue of any depth ran over budget.
    fake.latency = 0.05
    runner = await make_runner(limits={"daily_tokens_per_channel": 1, "max_concurrent_jobs": 1,
                                       "per_user": 5})
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    first = await runner.submit(spec())
    second = await runner.submit(spec())
    assert first is not None and second is not None and second.position == 1
    await settle(runner)
    assert len(fake.calls("synthesis")) == 1  # the second job never reached a model
    stored = await runner.store.get(second.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error == ("This channel has used its daily budget of 1 tokens; it resets at "
                            "00:00 UTC.")
    assert delivery.posted[-1] == (second.id, stored.error)  # the requester is told why



async def test_a_submission_half_done_across_the_read_is_queued_once(
    make_runner: MakeRunner, fake: FakeLLM
) -> None:
    # The same race, one step later: with several connections (PostgreSQL), a submission's row
    # can be read by `start()` before the submission has appended it to the queue, which it
    # then does while `start()` is saving the recovered rows.
    runner = await make_runner(start=False)
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    read_unfinished, save = runner.store.unfinished, runner.store.save
    half_done: list[Job] = []

    async def unfinished_after_an_insert() -> list[Job]:
        await runner.store.insert(half := Job(id="half-done", spec=spec(), config=runner.config,
                                              created_at=datetime.now(UTC)))
        half_done.append(half)
        return await read_unfinished()

    async def save_then_finish_the_submission(job: Job) -> None:
        await save(job)
        if half_done:
            runner.backend._queue.append(half_done.pop())  # what `submit` does after its insert

    runner.store.unfinished = unfinished_after_an_insert  # type: ignore[method-assign]
    runner.store.save = save_then_finish_the_submission  # type: ignore[method-assign]
    await runner.start()
    await settle(runner)
    assert delivery.seen == ["half-done"]
    assert len(fake.calls("synthesis")) == 1


def test_stored_settings_are_validated_once_and_a_stale_snapshot_still_falls_back() -> None:
    from heavy_engine import HeavyConfig
    from heavy_engine.db._job_tables import JobRow

    store = JobStore(None, HeavyConfig(agents=2))  # type: ignore[arg-type]  # no database read

    def row(job_id: str, config: dict[str, object]) -> JobRow:
        return JobRow(id=job_id, platform="api", workspace="w", channel="c", requester="u",
                      question="q?", thread=None, context=None, flags={}, reply={},
                      dedup_key=None, attachments=None, config=config, status="queued",
                      attempts=0, created_at=datetime.now(UTC))

    snapshot = HeavyConfig(agents=3).model_dump(mode="json")
    first = store._to_job(row("a", snapshot))
    again = store._to_job(row("b", dict(reversed(list(snapshot.items())))))  # keys reordered
    assert first.config.agents == 3 and again.config is first.config
    stale = store._to_job(row("c", {**snapshot, "agents": "three"}))
    assert stale.config is store.fallback_config and store.invalid == {"c"}
    assert store._to_job(row("d", {**snapshot, "agents": "three"})).config.agents == 2
    assert store.invalid == {"c", "d"}  # a refused snapshot is not kept as if it were good


async def test_no_answer_is_posted_before_its_result_is_stored(
        make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery runs beside the runner and sees `Done` as it does: it waits for `stored`,
    so a retry after a crash replays the answer whose parts went out, not a new one."""
    runner = await make_runner()
    delivery = StoredFirstDelivery(runner)
    runner.register_delivery("slack", delivery)
    save = runner.store.save

    async def slow_save(job: Job) -> None:
        if job.result is not None:
            await asyncio.sleep(0.2)  # a busy database: the platform would have been first
        await save(job)

    monkeypatch.setattr(runner.store, "save", slow_save)
    job = await runner.submit(spec())
    assert job is not None
    await settle(runner)
    assert delivery.found == [True]
