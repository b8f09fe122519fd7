"""A message is posted at most once, even when the worker dies between Slack accepting a post
and the ledger recording it: the retry finds the tagged message in the thread and adopts it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from heavy_engine.runtime import Job, JobSpec
from heavy_engine.testing import FakeLLM, fake_config, text_reply

from ..crash import Dies, DyingSave, after_card, after_part, attempt
from .conftest import MakeSlack, Slack
from .fake_slack import TEAM
from .test_restart import LONG_ANSWER

CHANNEL = "C0GENERAL"
THREAD = "1700000300.000100"


def _posts(slack: Slack) -> Counter[tuple[str, int]]:
    """The thread's posts, counted by the tag heavy put on each."""
    tags = [(c.args.get("metadata") or {}).get("event_payload") or {}
            for c in slack.fake.called("chat.postMessage", thread_ts=THREAD)]
    return Counter((str(t.get("key")), int(t.get("part", 0))) for t in tags)


async def _attempt(slack: Slack, job: Job, save: DyingSave) -> None:
    await attempt(slack.adapter.services.engine, slack.adapter.surface, job, save)


@pytest.mark.parametrize("dies", [
    after_card,
    lambda reply: "answer" in reply,  # the synthesis as it was written
    after_part(2),  # posted anew (the first part replaces the live answer)
], ids=["card", "live-answer", "answer-part"])
async def test_a_retry_adopts_what_a_killed_worker_posted(
    make_slack: MakeSlack, fake_llm: FakeLLM, dies: Dies
) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    fake_llm.enqueue(text_reply(LONG_ANSWER), text_reply(LONG_ANSWER), when="synthesis")
    first = _job(slack)
    save = DyingSave(dies)
    with pytest.raises(asyncio.CancelledError):
        await _attempt(slack, first, save)
    assert not slack.fake.called("conversations.replies")  # a first attempt pays nothing

    retry = save.retry(first, _reply())
    await _attempt(slack, retry, DyingSave())
    posts = _posts(slack)
    assert posts[("card", 0)] == 1 and set(posts.values()) == {1}, posts  # nothing twice
    assert retry.reply["answered"] is True
    [card] = slack.fake.called("chat.postMessage", thread_ts=THREAD)[:1]
    assert retry.reply["card"] == card.ts  # adopted: the final card edits it
    assert slack.fake.called("chat.update", ts=card.ts)
    [lookup] = slack.fake.called("conversations.replies")
    assert lookup.args["include_all_metadata"] in (True, "1", "true")


async def test_a_failed_lookup_still_answers(make_slack: MakeSlack, fake_llm: FakeLLM) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    slack.fake.fail_next("conversations.replies", "missing_scope")
    retry = DyingSave().retry(_job(slack), _reply())
    await _attempt(slack, retry, DyingSave())
    assert retry.reply["answered"] is True and _posts(slack)[("card", 0)] == 1


def _reply() -> dict[str, Any]:
    return {"channel": CHANNEL, "thread_ts": THREAD, "team": TEAM}


def _job(slack: Slack) -> Job:
    spec = JobSpec(platform="slack", workspace=TEAM, channel=CHANNEL, user="U0ALICE",
                   question="Q once", reply=_reply())
    return Job(id="once-" + THREAD, spec=spec, config=slack.adapter.services.config,
               created_at=datetime.now(UTC), attempts=1)
