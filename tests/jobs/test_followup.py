"""Regenerate and Go deeper: the next job comes from the stored one, and presses are checked."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import HeavyConfig, RequestRejected, RunResult
from heavy_engine.conversations import follow_up
from heavy_engine.conversations._followup import NO_ANSWER, NOT_FINISHED, NOT_YOURS, UNKNOWN
from heavy_engine.jobs import Job, JobSpec
from heavy_engine.testing import FakeLLM

from .conftest import MakeRunner, settle, spec

WHERE = {"platform": "slack", "workspace": "T1", "channel": "C1"}


def _job(status: str = "done", answer: str = "First answer.", agents: int = 3,
         **fields: Any) -> Job:
    job = Job(id="j1", spec=spec(thread="171.5", flags={"model": "m"}, context="Earlier.",
                                 attachments={"documents": [], "images": [], "notes": []},
                                 **fields),
              config=HeavyConfig(agents=agents), status=status)  # type: ignore[arg-type]
    job.result = RunResult(request_id="j1", question=job.spec.question, answer=answer)
    return job


@pytest.mark.parametrize(("job", "where", "user", "admin", "action", "refusal"), [
    # the job id is unknown (deleted, or made up)
    (None, WHERE, "U1", False, "regenerate", UNKNOWN),
    # a button copied into another channel: refused by the record, whatever it says
    (_job(), {**WHERE, "channel": "C2"}, "U1", False, "regenerate", UNKNOWN),
    # or into another workspace
    (_job(), {**WHERE, "workspace": "T2"}, "U1", False, "regenerate", UNKNOWN),
    # or another platform
    (_job(), {**WHERE, "platform": "discord"}, "U1", False, "regenerate", UNKNOWN),
    # someone else, not an admin
    (_job(), WHERE, "U2", False, "deeper", NOT_YOURS),
    # still running
    (_job(status="running"), WHERE, "U1", False, "regenerate", NOT_FINISHED),
    # nothing to go deeper on
    (_job(status="failed", answer=""), WHERE, "U1", False, "deeper", NO_ANSWER),
])
def test_refused_presses(job: Job | None, where: dict[str, str], user: str, admin: bool,
                         action: Any, refusal: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        follow_up(job, action, **where, user=user, is_admin=admin, click_id="c1")
    assert str(caught.value) == refusal


def test_regenerate_asks_the_same_question_in_the_same_thread() -> None:
    job = _job(status="failed", answer="")  # a failed run may be asked again
    again = follow_up(job, "regenerate", **WHERE, user="U1", is_admin=False, click_id="c1")
    assert (again.question, again.thread, again.context, again.flags) == (
        job.spec.question, "171.5", "Earlier.", {"model": "m"})
    assert again.attachments == job.spec.attachments
    assert again.dedup_key == "regenerate:j1:c1" and again.reply == {}


@pytest.mark.parametrize(("agents", "doubled"), [
    (1, 2),  # twice the agents
    (3, 6),
    (8, 16),
    (12, 16),  # at most 16
])
def test_go_deeper_doubles_the_agents_and_gives_the_first_answer(agents: int,
                                                                 doubled: int) -> None:
    deeper = follow_up(_job(agents=agents), "deeper", **WHERE, user="ADMIN", is_admin=True,
                       click_id="c9")
    assert deeper.flags == {"model": "m", "agents": doubled}
    assert deeper.user == "ADMIN"  # an admin's press runs on the admin's account
    assert deeper.context is not None and deeper.context.startswith("Earlier.\n\n")
    assert "find what it missed" in deeper.context and "First answer." in deeper.context


def test_a_long_first_answer_is_cut() -> None:
    deeper = follow_up(_job(answer="x" * 20_000), "deeper", **WHERE, user="U1", is_admin=False,
                       click_id="c")
    assert deeper.context is not None and len(deeper.context) < 7_000


async def test_through_the_runner(make_runner: MakeRunner, fake: FakeLLM) -> None:
    runner = await make_runner()
    first = await runner.submit(spec(thread="171.5"))
    assert first is not None
    await settle(runner)
    stored = await runner.get_job(first.id)
    assert stored is not None and stored.result is not None
    fake.reset()
    deeper = follow_up(stored, "deeper", **WHERE, user="U1", is_admin=False, click_id="x1")
    second = await runner.submit(deeper)
    assert second is not None and second.config.agents == 4  # the fixture runs 2 agents
    assert await runner.submit(deeper) is None  # the same press delivered twice: one job
    await settle(runner)
    agent_calls = fake.calls("agent")
    assert len(agent_calls) >= 4
    first_answer = stored.result.answer[:40]
    assert all(c.body and first_answer in c.body["messages"][1]["content"] for c in agent_calls)
    done = await runner.get_job(second.id)
    assert done is not None and done.status == "done" and done.spec.thread == "171.5"


def test_spec_roundtrip_is_plain_data() -> None:
    assert isinstance(follow_up(_job(), "regenerate", **WHERE, user="U1", is_admin=False,
                                click_id="c"), JobSpec)
