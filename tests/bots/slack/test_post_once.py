"""A message is posted at most once, even when the worker dies between Slack accepting a post
and the ledger recording it: the retry finds the tagged message in the thread and adopts it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from heavy_engine.jobs import Job, JobSpec
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


def _reply(**extra: Any) -> dict[str, Any]:
    return {"channel": CHANNEL, "thread_ts": THREAD, "team": TEAM, **extra}


def _job(slack: Slack, **reply: Any) -> Job:
    spec = JobSpec(platform="slack", workspace=TEAM, channel=CHANNEL, user="U0ALICE",
                   question="Q once", reply=_reply(**reply))
    return Job(id="once-" + THREAD, spec=spec, config=slack.adapter.services.config,
               created_at=datetime.now(UTC), attempts=1)


async def test_a_retry_adopts_a_stream_a_killed_worker_started(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    """`chat.startStream` takes no tag: a worker killed before the ledger learnt the stream's
    ts leaves an untagged message, which the retry finds, stops with its tag and edits."""
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2), streaming=True)
    fake_llm.enqueue(text_reply("The answer, streamed once."), when="synthesis")
    first = _job(slack, trigger_ts=THREAD)
    outer: asyncio.Task[None] | None = None

    def dies(reply: dict[str, Any]) -> bool:
        # The ledger's save runs in the stream's own task: the kill takes the attempt with it.
        if "answer" in reply and outer is not None:
            outer.cancel()
            return True
        return False

    save = DyingSave(dies)
    outer = asyncio.create_task(_attempt(slack, first, save))
    with pytest.raises(asyncio.CancelledError):
        await outer
    [start] = slack.fake.called("chat.startStream")
    stream = slack.fake.streams[start.ts]
    assert not stream["stopped"] and not slack.fake.called("chat.stopStream")  # as killed

    retry = save.retry(first, _reply(trigger_ts=THREAD))
    assert "answer" not in retry.reply  # the ledger never learnt of the stream
    await _attempt(slack, retry, DyingSave())
    assert retry.reply["answered"] is True and retry.reply["answer"] == start.ts
    assert len(slack.fake.called("chat.startStream")) == 1  # no second stream
    assert not _posts(slack)[("answer", 0)]  # and no answer posted beside it
    [stop] = slack.fake.called("chat.stopStream", ts=start.ts)
    assert stop.args["metadata"]["event_payload"]["key"] == "answer"  # tagged from now on
    edits = slack.fake.called("chat.update", ts=start.ts)  # the answer edits the stream
    assert edits and "streamed once" in str(edits[-1].args.get("text"))


async def test_two_untagged_messages_are_not_guessed_between(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    """When more than one untagged message of the bot follows the question, none is adopted:
    editing the wrong one would be worse than a second answer."""
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2), streaming=True)
    for _ in range(2):
        await slack.adapter.surface.client.chat_startStream(channel=CHANNEL, thread_ts=THREAD)
    retry = DyingSave().retry(_job(slack, trigger_ts=THREAD), _reply(trigger_ts=THREAD))
    await _attempt(slack, retry, DyingSave())
    assert retry.reply["answered"] is True
    assert retry.reply["answer"] not in {c.ts for c in slack.fake.called("chat.startStream")[:2]}


@pytest.mark.parametrize("streaming", [False, True], ids=["posted", "streamed"])
async def test_a_retry_does_not_attach_the_full_answer_twice(
    make_slack: MakeSlack, fake_llm: FakeLLM, streaming: bool
) -> None:
    """A file takes no metadata: the attachment is known by its name, one per job."""
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2), streaming=streaming)
    huge = "\n\n".join(f"## Part {i}\n\n" + "Detail sentence. " * 200 for i in range(20))
    fake_llm.enqueue(text_reply(huge), text_reply(huge), when="synthesis")
    first = _job(slack, trigger_ts=THREAD)

    def dies(reply: dict[str, Any]) -> bool:  # the first save after the upload
        return bool(slack.fake.called("files.completeUploadExternal"))

    save = DyingSave(dies)
    with pytest.raises(asyncio.CancelledError):
        await _attempt(slack, first, save)
    assert len(slack.fake.uploads) == 1

    retry = save.retry(first, _reply(trigger_ts=THREAD))
    await _attempt(slack, retry, DyingSave())
    assert retry.reply["answered"] is True
    assert len(slack.fake.called("files.completeUploadExternal")) == 1  # attached once
    assert set(_posts(slack).values()) <= {1}, _posts(slack)  # and nothing posted twice
