"""The distributed runner on a real (throwaway) PostgreSQL: several runners in one process stand
in for replicas here; tests/service/test_replicas.py runs real processes."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from heavy_engine import Engine, HeavyConfig
from heavy_engine.attachments import Attachments, Document
from heavy_engine.db import Database
from heavy_engine.jobs import JobRejected, JobSpec, JobStore
from heavy_engine.observability import Metrics
from heavy_engine.testing import FakeLLM, fake_config

from .conftest import RecordingDelivery, StoredFirstDelivery, final_status, spec

pytest.importorskip("procrastinate")

import psycopg
from procrastinate.schema import SchemaManager

from heavy_engine.db._job_tables import JobRow
from heavy_engine.db._queue import install_queue_schema
from heavy_engine.db._queue_tables import JobEventRow
from heavy_engine.jobs._distributed import DistributedRunner

MakeReplica = Callable[..., Awaitable[DistributedRunner]]


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    database = await Database.open(pg_url, migrate=True)
    assert await install_queue_schema(pg_url)
    yield database
    await database.close()


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(latency=0.05) as server:
        yield server


@pytest.fixture
async def replica(pg_db: Database, slow_fake: FakeLLM) -> AsyncIterator[MakeReplica]:
    """`await replica(work=False, limits={...})`: one more runner on the shared database."""
    made: list[tuple[DistributedRunner, Engine]] = []

    async def make(*, work: bool = True, limits: dict[str, Any] | None = None,
                   **kwargs: Any) -> DistributedRunner:
        cfg = fake_config(slow_fake.base_url, agents=2, timeouts={"request": 20})
        if limits:
            cfg = cfg.with_overrides({"limits": limits})

        async def resolve(s: JobSpec) -> HeavyConfig:
            return cfg

        engine = Engine(cfg)
        runner = DistributedRunner(engine, JobStore(pg_db, cfg), resolve, cfg, work=work,
                                   metrics=Metrics(), heartbeat_s=0.5,
                                   # no test here kills a worker: on a loaded machine 3 s
                                   # let a live worker's jobs be taken for a dead one's
                                   stalled_after_s=30,
                                   **kwargs)
        await runner.start()
        made.append((runner, engine))
        return runner

    yield make
    for runner, engine in made:
        await runner.shutdown(0)
        await engine.aclose()


async def _collect(items: AsyncIterator[tuple[int | None, str, dict[str, Any]]]
                   ) -> list[tuple[int | None, str, dict[str, Any]]]:
    return [item async for item in items]


async def test_the_queue_schema_installs_once(pg_url: str) -> None:
    async with await Database.open(pg_url, migrate=True):
        assert await install_queue_schema(pg_url) is True
        assert await install_queue_schema(pg_url) is False


async def test_a_job_asked_on_one_replica_runs_on_another(replica: MakeReplica) -> None:
    web = await replica(work=False)
    worker = await replica()
    delivery = RecordingDelivery()
    worker.register_delivery("slack", delivery)
    job = await web.submit(spec())
    assert job is not None and job.position == 0
    assert await final_status(web, job.id) == "done"
    stored = await web.get_job(job.id)
    assert stored is not None and stored.result is not None and stored.result.answer
    assert stored.attempts == 1
    assert [j for j, _ in delivery.posted] == [job.id]  # delivered on the worker, once


async def test_a_worker_posts_no_answer_before_its_result_is_stored(
        replica: MakeReplica, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = await replica()
    delivery = StoredFirstDelivery(worker)
    worker.register_delivery("slack", delivery)
    set_ = worker.backend.rows.set

    async def slow_set(job_id: str, tail: Any = None, **values: Any) -> None:
        if "result" in values:
            await asyncio.sleep(0.2)  # a busy database: the platform would have been first
        await set_(job_id, tail, **values)

    monkeypatch.setattr(worker.backend.rows, "set", slow_set)
    job = await worker.submit(spec())
    assert job is not None
    assert await final_status(worker, job.id) == "done"
    assert delivery.found == [True]


async def test_any_replica_follows_a_job_and_resumes_after_a_number(
        replica: MakeReplica) -> None:
    web = await replica(work=False)
    other = await replica(work=False)
    await replica()
    job = await web.submit(spec())
    assert job is not None
    seen: list[tuple[int | None, str]] = []
    async with asyncio.timeout(15):
        async for seq, kind, _data in other.follow(job.id):
            seen.append((seq, kind))
    numbers = [n for n, _ in seen if n is not None]
    assert numbers == list(range(1, len(numbers) + 1))
    kinds = [k for _, k in seen]
    assert kinds[-1] == "status" and "done" in kinds and "accepted" in kinds
    # Resume after the third event: exactly the rest, then the final status.
    rest = [(n, k) async for n, k, _ in web.follow(job.id, after=3)]
    assert [n for n, _ in rest if n is not None] == numbers[3:]
    assert rest[-1][1] == "status"


async def test_per_user_limit_holds_across_replicas(replica: MakeReplica, pg_db: Database,
                                                    slow_fake: FakeLLM) -> None:
    slow_fake.latency = 0.2  # a job takes >= 0.6 s: the first still runs after the burst
    limits = {"per_user": 1, "max_queued_per_user": 5}
    webs = [await replica(work=False, limits=limits) for _ in range(2)]
    await replica(limits=limits)
    await replica(limits=limits)
    # At once (one after the other, a loaded machine could finish the first before the last
    # is asked): one starts, three wait, whichever replica took them. (Their positions are
    # not always 1, 2, 3: a place is counted when the job is recorded, and the queue ahead
    # may have moved on by the next one.)
    jobs = [job for job in await asyncio.gather(
        *(webs[i % 2].submit(spec(f"question {i}", user="U1")) for i in range(4)))
        if job is not None]
    positions = sorted(j.position for j in jobs)
    assert len(jobs) == 4 and positions[0] == 0 and all(p > 0 for p in positions[1:])
    for job in jobs:
        assert await final_status(webs[0], job.id, within=30) == "done"
    async with pg_db.session() as session:
        rows = list(await session.scalars(select(JobRow).order_by(JobRow.started_at)))
    for earlier, later in itertools.pairwise(rows):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at  # never two at once for one user


async def test_queue_limits_count_every_replica(replica: MakeReplica) -> None:
    limits = {"per_user": 1, "max_queued_per_user": 1}
    a, b = await replica(work=False, limits=limits), await replica(work=False, limits=limits)
    first = await a.submit(spec("one", user="U9"))
    second = await b.submit(spec("two", user="U9"))
    assert first is not None and second is not None
    assert (first.position, second.position) == (0, 1)
    with pytest.raises(JobRejected) as refused:
        await a.submit(spec("three", user="U9"))
    assert refused.value.reason == "user_queue"


async def test_the_global_queue_size_is_exact_under_concurrent_submissions(
        replica: MakeReplica) -> None:
    limits = {"max_concurrent_jobs": 1, "max_queued": 3}
    a, b = await replica(work=False, limits=limits), await replica(work=False, limits=limits)
    first = await a.submit(spec("q", user="U"))  # takes the one running slot (no worker here)
    assert first is not None and first.position == 0
    results = await asyncio.gather(
        *((a if i % 2 else b).submit(spec(f"q{i}", user=f"U{i}")) for i in range(12)),
        return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, JobRejected)]
    assert len(accepted) + len(refused) == 12
    # Three wait, whichever replica took them; the rest are told heavy is busy.
    assert sorted(j.position for j in accepted if j is not None) == [1, 2, 3]
    assert {r.reason for r in refused} == {"busy"}


async def test_cancel_from_another_replica_stops_the_run(replica: MakeReplica,
                                                         slow_fake: FakeLLM) -> None:
    slow_fake.latency = 0.5
    web, other = await replica(work=False), await replica(work=False)
    await replica()
    job = await web.submit(spec())
    assert job is not None
    async with asyncio.timeout(10):
        async for _n, kind, _d in other.follow(job.id):
            if kind == "status" and _d["status"] == "running":
                break
    assert await other.cancel(job.id, by="U2")
    assert await final_status(web, job.id) == "cancelled"


async def test_a_queued_job_cancels_at_once(replica: MakeReplica) -> None:
    web = await replica(work=False)  # no worker: the job stays queued
    job = await web.submit(spec())
    assert job is not None
    assert await web.cancel(job.id, by="U1")
    stored = await web.get_job(job.id)
    assert stored is not None and stored.status == "cancelled"
    assert not await web.cancel(job.id)


async def test_a_duplicate_dedup_key_is_dropped(replica: MakeReplica) -> None:
    web = await replica(work=False)
    assert await web.submit(spec(dedup_key="Ev1")) is not None
    assert await web.submit(spec(dedup_key="Ev1")) is None


async def test_a_burst_is_recorded_in_a_few_transactions_with_exact_limits(
        replica: MakeReplica, pg_db: Database) -> None:
    # per user 1 running (the others wait), 2 queued: one batch must count its own jobs
    limits = {"per_user": 1, "max_queued_per_user": 2, "per_channel": 1000}
    web = await replica(work=False, limits=limits)
    results = await asyncio.gather(
        *(web.submit(spec(f"q{i}", user=f"U{i % 3}", dedup_key=f"E{i % 40}")) for i in range(60)),
        return_exceptions=True)
    assert web.backend.intake.batches <= 6  # group commit: 60 submissions, a few transactions
    duplicates = [r for r in results if r is None]
    assert len(duplicates) == 20  # the second submission of each of 40 events is dropped
    accepted = [r for r in results if r is not None and not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, JobRejected)]
    assert {r.reason for r in refused} == {"user_queue"}
    for user in ("U0", "U1", "U2"):  # one starts, two wait, whichever batch took them
        assert sorted(j.position > 0 for j in accepted if j.spec.user == user) == [
            False, True, True]
    async with pg_db.session() as session:
        rows = list(await session.scalars(select(JobRow)))
    assert len(rows) == 40  # every accepted and refused job is recorded, once per event
    assert sum(row.status == "queued" for row in rows) == 9


async def test_the_done_event_is_stored_with_the_outcome_both_or_neither(
        replica: MakeReplica, pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed after its run ended but before the job's outcome was stored must leave
    no `done` event behind: the retry would answer a second time (bench/replicas.py --kill
    found 4 of 300 answered twice that way)."""
    web, worker = await replica(work=False), await replica()
    reached, release = asyncio.Event(), asyncio.Event()
    # The final write goes with procrastinate's finish, once the run is over and its events
    # are published (`QueueManager.end_with`).
    finish = worker.backend.manager.finish_job_by_id_async

    async def held(job_id: int, status: Any, delete_job: bool) -> None:
        reached.set()
        await release.wait()
        await finish(job_id, status, delete_job)

    monkeypatch.setattr(worker.backend.manager, "finish_job_by_id_async", held)
    job = await web.submit(spec())
    assert job is not None
    # followed from the other replica, so its events are written as they come
    follower = asyncio.ensure_future(_collect(web.follow(job.id)))
    await asyncio.wait_for(reached.wait(), 15)

    async def kinds() -> list[str]:
        async with pg_db.session() as session:
            return list(await session.scalars(select(JobEventRow.type).where(
                JobEventRow.job_id == job.id).order_by(JobEventRow.seq)))

    for _ in range(100):  # the follower's ask reaches the worker
        if len(await kinds()) > 1:
            break
        await asyncio.sleep(0.05)
    before = await kinds()
    assert before and "done" not in before  # everything but the answer, which waits
    release.set()
    assert await final_status(web, job.id) == "done"
    after = await kinds()
    # the rest (what came after the last write, `done` last) is numbered on, exactly once
    assert after[:len(before)] == before and after[-1] == "done" and after.count("done") == 1
    followed = await asyncio.wait_for(follower, 15)
    assert [t for n, t, _ in followed if n is not None] == after  # the follower saw them all


async def test_a_job_nobody_follows_stores_its_events_with_its_outcome(
        replica: MakeReplica, pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """No write of their own for the events of a job nobody watches: they are all stored,
    numbered from 1, in the statement that stores the outcome; a follower who comes later
    replays them all."""
    web, worker = await replica(work=False), await replica()
    job = await web.submit(spec())
    assert job is not None
    assert await final_status(web, job.id) == "done"
    assert worker.backend.publisher.events.batches == 0
    async with pg_db.session() as session:
        rows = list(await session.execute(select(JobEventRow.seq, JobEventRow.type).where(
            JobEventRow.job_id == job.id).order_by(JobEventRow.seq)))
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
    assert len(rows) > 10 and rows[-1][1] == "done"
    replayed = [item async for item in web.follow(job.id)]
    assert [n for n, _, _ in replayed if n is not None] == [seq for seq, _ in rows]


async def test_a_worker_runs_what_the_in_process_runner_runs_budgets_and_files(
        replica: MakeReplica, slow_fake: FakeLLM) -> None:
    """The per-user daily budget and the question's files hold on PostgreSQL too (the
    distributed runner once checked only the channel's and workspace's budgets, and ran
    the question without its files)."""
    web = await replica(work=False, limits={"daily_tokens_per_user": 1})
    await replica(limits={"daily_tokens_per_user": 1})
    files = Attachments(documents=[Document("plan.md", "text", "Launch on Monday.")])
    first = await web.submit(spec(user="U1", attachments=files.as_dict()))
    assert first is not None and await final_status(web, first.id) == "done"
    agent_calls = slow_fake.calls("agent")
    assert agent_calls and all("Launch on Monday." in str(c.body) for c in agent_calls)
    with pytest.raises(JobRejected, match="You have used your daily budget of 1 tokens"):
        await web.submit(spec(user="U1", channel="C2"))
    assert await web.submit(spec(user="U2")) is not None  # others have their own


def test_heavy_db_upgrade_installs_the_queue_once(pg_url: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from heavy_engine.cli import main

    assert main(["db", "upgrade", "--database-url", pg_url]) == 0
    first = capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", pg_url]) == 0
    second = capsys.readouterr().out
    assert "installed the job queue's schema" in first and "(head)" in first
    assert "installed" not in second and "(head)" in second


async def test_the_queue_follows_procrastinate_upgrades_post_migrations_one_deploy_later(
        pg_url: str, tmp_path: Path) -> None:
    from heavy_engine.db._queue import upgrade_queue_schema

    async with await Database.open(pg_url, migrate=True):
        assert await install_queue_schema(pg_url)
        assert await upgrade_queue_schema(pg_url) == []  # the fresh schema has them all
        # a newer procrastinate: its folder has one more version, a "pre" and a "post" step
        newer = tmp_path / "migrations"
        shutil.copytree(SchemaManager.get_migrations_path(), newer)
        (newer / "99.00.00_01_pre_heavy_test.sql").write_text(
            "CREATE TABLE heavy_test_pre (id int);")
        (newer / "99.00.00_50_post_heavy_test.sql").write_text(
            "CREATE TABLE heavy_test_post (id int);")

        async def tables() -> set[str]:
            async with await psycopg.AsyncConnection.connect(pg_url) as conn:
                cur = await conn.execute("SELECT tablename FROM pg_tables "
                                         "WHERE tablename LIKE 'heavy_test_%'")
                return {name for name, in await cur.fetchall()}

        # the deploy's upgrade: the pre step now, the post step waits for its rollout
        assert await upgrade_queue_schema(pg_url, newer) == ["99.00.00_01_pre_heavy_test.sql"]
        assert await tables() == {"heavy_test_pre"}
        # the next deploy's upgrade: the old code is gone, the post step runs
        assert await upgrade_queue_schema(pg_url, newer) == ["99.00.00_50_post_heavy_test.sql"]
        assert await tables() == {"heavy_test_pre", "heavy_test_post"}
        assert await upgrade_queue_schema(pg_url, newer) == []


async def _terminate(pg_url: str, pids: set[int]) -> None:
    """Have the server close these backends (as a restart or an idle timeout would), and wait
    until they are gone."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                           [sorted(pids)])
        async with asyncio.timeout(10):
            while True:
                left = await (await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                    [sorted(pids)])).fetchone()
                if left is None or left[0] == 0:
                    return
                await asyncio.sleep(0.02)


async def test_the_queue_pool_checks_a_healthy_connection_without_a_round_trip(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg_pool

    from heavy_engine.jobs._direct import alive

    real = psycopg_pool.AsyncConnectionPool.check_connection
    asked: list[object] = []

    async def counted(conn: psycopg.AsyncConnection[Any]) -> None:
        asked.append(conn)
        await real(conn)

    monkeypatch.setattr(psycopg_pool.AsyncConnectionPool, "check_connection",
                        staticmethod(counted))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await alive(conn)
        assert asked == []  # healthy and idle: no round trip
        await _terminate(pg_url, {conn.info.backend_pid})
        with pytest.raises(psycopg.OperationalError):
            await alive(conn)
        assert asked == [conn]  # something to read: asked for real, found gone


async def test_pooled_connections_the_server_closed_are_replaced(
        replica: MakeReplica, pg_url: str) -> None:
    """The queue's pool no longer pings a connection on checkout (`_direct.alive`): ones the
    server closed while idle must still be replaced, not fail a statement, fetch or job."""
    web, worker = await replica(work=False), await replica()

    async def pooled(runner: DistributedRunner) -> set[int]:
        pool = runner.backend.app.connector.pool  # type: ignore[attr-defined]
        pids = set()
        for _ in range(3 * pool.get_stats()["pool_size"]):  # checkouts cycle through the pool
            async with pool.connection() as conn:
                pids.add(conn.info.backend_pid)
        return pids

    killed = await pooled(web) | await pooled(worker)
    await _terminate(pg_url, killed)
    row = await web.backend.direct.one("SELECT pg_backend_pid()", {})
    assert row is not None and row[0] not in killed
    job = await web.submit(spec())  # deferred on web's pool, fetched and run on worker's
    assert job is not None
    assert await final_status(web, job.id) == "done"


async def test_admission_is_one_statement_and_keeps_its_outcomes(
        replica: MakeReplica, slow_fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker admits a job with one statement (`heavy_admit_job`, migration 0010) that also
    returns the job: no read through SQLAlchemy first, and the same outcomes as before."""
    from heavy_engine.jobs._pg_worker import _Again

    web = await replica(work=False, limits={"per_user": 1})
    first, second, third = [await web.submit(spec(q, user=u)) for q, u in (
        ("one", "U1"), ("two", "U1"), ("three", "U2"))]
    assert first is not None and second is not None and third is not None
    # The job's own snapshot limits it (per user 1), not the fallback settings.
    web.store.fallback_config = fake_config(slow_fake.base_url).with_overrides(
        {"limits": {"per_user": 100}})

    async def no_read(job_id: str) -> None:
        raise AssertionError("admission read the job through SQLAlchemy")

    monkeypatch.setattr(web.store, "get", no_read)
    statements: list[str] = []
    for name in ("one", "row"):
        real = getattr(web.backend.direct, name)

        async def counted(query: str, params: Any, real: Any = real) -> Any:
            statements.append(query)
            return await real(query, params)

        monkeypatch.setattr(web.backend.direct, name, counted)

    admitted = await web.backend.workers.admit(first.id)
    assert admitted is not None
    assert (admitted.status, admitted.attempts, admitted.position) == ("running", 1, 0)
    assert admitted.started_at is not None and admitted.started_at.utcoffset() is not None
    assert (admitted.spec, admitted.config) == (first.spec, first.config)
    with pytest.raises(_Again):  # U1 already runs one
        await web.backend.workers.admit(second.id)
    again = await web.backend.workers.admit(first.id)  # a retry after a crash keeps its place, counted
    assert again is not None and again.attempts == 2
    assert (await web.backend.workers.admit(third.id)) is not None  # another user has room
    assert await web.cancel(second.id, by="U1")  # still queued: cancelled at once
    assert await web.backend.workers.admit(second.id) is None  # over
    assert await web.backend.workers.admit("no-such-job") is None
    assert len(statements) == 6  # one round trip each


async def test_jobs_are_fetched_as_many_as_free_slots_and_admitted_in_one_statement(
        replica: MakeReplica, monkeypatch: pytest.MonkeyPatch) -> None:
    """One statement takes up to the worker's free slots and admits each job taken (`_manager`):
    the worker is handed the others without a round trip, each job finds its admission, the
    limits still hold, and jobs held for a worker that stopped go back as they were."""
    from heavy_engine.jobs._pg_worker import _Again

    web = await replica(work=False, limits={"per_user": 1})
    jobs = [await web.submit(spec(f"q{i}", user=u)) for i, u in
            enumerate(("U1", "U1", "U2", "U3", "U4", "U5", "U6"))]
    ids = [job.id for job in jobs if job is not None]
    manager = web.backend.manager
    monkeypatch.setattr(manager, "_free_slots", lambda worker_id: 4)
    statements = 0
    real_connection = manager.connector.pool.connection

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal statements
        statements += 1
        return real_connection(*args, **kwargs)

    monkeypatch.setattr(manager.connector.pool, "connection", counted)
    worker_id = await manager.register_worker()
    statements = 0
    taken = [await manager.fetch_job(["heavy"], worker_id) for _ in range(4)]
    assert statements == 1  # four jobs, one round trip
    assert [job.task_kwargs["job_id"] for job in taken if job is not None] == ids[:4]
    monkeypatch.setattr(web.store, "get", None)  # admission reads nothing more
    first = await web.backend.workers.admit(ids[0])
    assert first is not None and (first.status, first.attempts) == ("running", 1)
    with pytest.raises(_Again):  # U1 already runs one: taken, but not admitted
        await web.backend.workers.admit(ids[1])
    assert (await web.backend.workers.admit(ids[2])) is not None and statements == 1
    # The next statement takes what is left (three), for a worker that then stops.
    held = await manager.fetch_job(["heavy"], worker_id)
    assert held is not None and statements == 2
    assert await web.cancel(ids[6], by="U6")  # admitted: its worker is asked to abort it
    await web.backend.workers.give_back()  # none of web's fetch loops is live: it held ids[5] and ids[6]
    async with web.backend.db.session() as session:
        back = await session.get(JobRow, ids[5])
        cancelled = await session.get(JobRow, ids[6])
    assert back is not None and (back.status, back.attempts, back.started_at) == (
        "queued", 0, None)
    assert cancelled is not None and cancelled.status == "cancelled"
    queue = {job.task_kwargs["job_id"]: job.status
             for job in await manager.list_jobs_async(queue="heavy")}
    assert (queue[ids[5]], queue[ids[4]]) == ("todo", "doing")


async def test_a_jobs_end_is_written_with_its_finish_and_ends_together_share_a_round_trip(
        replica: MakeReplica, pg_db: Database) -> None:
    """The last update of a job goes with procrastinate's finish (`QueueManager.end_with`);
    jobs ending at the same moment are finished in one pipeline, and a statement that fails
    there fails alone."""
    web, worker = await replica(work=False), await replica()
    jobs = [await web.submit(spec(f"q{i}", user=f"U{i}")) for i in range(8)]
    for job in jobs:
        assert job is not None and await final_status(web, job.id) == "done"
    manager = worker.backend.manager
    queue = {job.task_kwargs["job_id"]: job.status
             for job in await manager.list_jobs_async(queue="heavy")}
    assert set(queue.values()) == {"succeeded"} and not manager._endings
    assert 1 <= manager._finishing.batches <= 8
    ok = ("UPDATE jobs SET answer = 'kept' WHERE id = %(id)s", {"id": jobs[0].id})
    bad = ("UPDATE jobs SET no_such_column = 1", {})
    results = await manager._write([ok, bad])
    assert results[0] is None and isinstance(results[1], psycopg.Error)
    async with pg_db.session() as session:
        kept = await session.get(JobRow, jobs[0].id)
    assert kept is not None and kept.answer == "kept"


async def test_one_listener_per_replica_wakes_its_fetch_loops_for_a_burst(
        replica: MakeReplica) -> None:
    """The fetch loops do not listen themselves (`_wake`): the replica's one listener hands
    each new job to the next loop, so a burst is fetched by several at once, not by polling
    (which is an hour away here)."""
    web = await replica(work=False)
    worker = await replica(fetchers=4, poll_s=3600)
    manager = worker.backend.app.job_manager
    fetch = manager.fetch_job
    fetched_by: list[int] = []

    async def recorded(queues: Any, worker_id: int) -> Any:
        job = await fetch(queues=queues, worker_id=worker_id)
        if job is not None:
            fetched_by.append(worker_id)
        return job

    manager.fetch_job = recorded  # type: ignore[method-assign]
    jobs = [await web.submit(spec(f"q{i}", user=f"U{i}", channel=f"C{i}")) for i in range(8)]
    for job in jobs:
        assert job is not None
        assert await final_status(web, job.id, within=10) == "done"
    assert len(fetched_by) == 8 and len(set(fetched_by)) > 1



async def test_a_fetch_loop_that_fails_is_started_again(
        replica: MakeReplica, monkeypatch: pytest.MonkeyPatch) -> None:
    """procrastinate ends a worker at the first error of a fetch (a dropped connection): the
    replica starts another in its place instead of taking no more jobs."""
    worker = await replica(fetchers=1)
    manager = worker.backend.app.job_manager
    real_fetch = manager.fetch_job
    failures = [1]

    async def flaky_fetch(*args: Any, **kwargs: Any) -> Any:
        if failures[0]:
            failures[0] -= 1
            raise psycopg.OperationalError("the connection was lost")
        return await real_fetch(*args, **kwargs)

    monkeypatch.setattr(manager, "fetch_job", flaky_fetch)
    first = worker.backend.workers.fetch_workers[0]
    job = await worker.submit(spec())
    assert job is not None
    assert await final_status(worker, job.id) == "done"
    assert failures == [0] and worker.backend.workers.fetch_workers[0] is not first
    assert worker.backend.workers.loops[0][0] is worker.backend.workers.fetch_workers[0]  # what shutdown stops


async def test_a_connection_lost_while_admitting_retries_the_job(
        replica: MakeReplica, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose admission failed on a dropped connection is tried again, not left queued
    for ever (procrastinate retries only the errors it is told to). A job is admitted with
    its fetch as a rule (where a lost connection fails the fetch: the test above); this one
    admits itself, as a job fetched by another path would."""
    web, worker = await replica(work=False), await replica()
    real_row = worker.backend.direct.row
    monkeypatch.setattr(worker.backend.manager, "admission", lambda job_id: (False, None))
    failures = [1]

    async def flaky_row(query: str, params: Any) -> Any:
        if failures[0] and "heavy_admit_job" in query:
            failures[0] -= 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return await real_row(query, params)

    monkeypatch.setattr(worker.backend.direct, "row", flaky_row)
    job = await web.submit(spec())
    assert job is not None
    assert await final_status(web, job.id) == "done"
    assert failures == [0]
