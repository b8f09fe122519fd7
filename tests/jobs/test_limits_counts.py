"""Fewer steps per job: counted running jobs (`startable` and the quick admission agree with
a full recount) and saves grouped into one executemany, in order."""

from __future__ import annotations

import random
import uuid

from heavy_engine import HeavyConfig
from heavy_engine.jobs import Job
from heavy_engine.jobs._limits import RunningJobs, startable

from .conftest import spec


def _job(config: HeavyConfig, user: str, channel: str) -> Job:
    return Job(id=uuid.uuid4().hex[:16], spec=spec(user=user, channel=channel), config=config)


def test_counts_follow_additions_and_removals(config: HeavyConfig) -> None:
    running = RunningJobs()
    a, b = _job(config, "U1", "C1"), _job(config, "U1", "C2")
    running[a.id] = a
    running[b.id] = b
    assert running.users[("slack", "T1", "U1")] == 2
    assert running.channels[("slack", "T1", "C1")] == 1
    running[a.id] = a  # set again: counted once
    assert running.users[("slack", "T1", "U1")] == 2
    del running[a.id]
    assert running.pop(b.id) is b and running.pop(b.id, None) is None
    assert not running.users and not running.channels and not running


def test_counted_and_listed_running_jobs_choose_the_same(config: HeavyConfig) -> None:
    limits = config.limits.model_copy(update={"per_user": 2, "per_channel": 3})
    config = config.model_copy(update={"limits": limits})
    rnd = random.Random(7)
    for _ in range(200):
        pool = [_job(config, f"U{rnd.randrange(4)}", f"C{rnd.randrange(3)}")
                for _ in range(rnd.randrange(1, 12))]
        running = RunningJobs()
        for job in pool[:rnd.randrange(len(pool))]:
            running[job.id] = job
        queue = [j for j in pool if j.id not in running]
        most = rnd.randrange(1, 10)
        assert startable(queue, running, most) == startable(queue, list(running.values()), most)
        if queue:  # the quick yes is never a yes the full rule would refuse
            *ahead, last = queue
            waiting = RunningJobs()
            for job in ahead:
                waiting[job.id] = job
            if running.fits(last, waiting, most):
                assert last in startable(queue, list(running.values()), most)


def test_a_group_commit_runs_consecutive_saves_as_one_executemany() -> None:
    from heavy_engine.jobs._store import _runs

    a, b = object(), object()
    batch = [(a, {"n": 1}), (a, {"n": 2}), (b, None), (a, {"n": 3})]
    assert _runs(batch) == [(a, [{"n": 1}, {"n": 2}]), (b, None), (a, [{"n": 3}])]
