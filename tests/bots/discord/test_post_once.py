"""A message is posted at most once, even when the worker dies between Discord accepting a post
and the ledger recording it. Every post's nonce is its tag, so a retry within Discord's nonce
window gets the first message back (`enforce_nonce`) instead of a second one; after a longer
outage the retry finds its posts in the channel's history (history shows no nonces): the live
card by its Stop button, the answer's parts by their text, made again from the stored result."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any, cast

import pytest

from heavy_engine import HeavyRequest, RunResult
from heavy_engine.delivery import ReplyPipeline
from heavy_engine.jobs import Job, JobRunner, JobSpec
from heavy_engine.jobs._results import replay_run
from heavy_engine.testing import text_reply

from ..crash import Dies, DyingSave, after_card, after_part, attempt
from .conftest import Stack
from .fake_discord import CHANNEL_ID, GUILD_ID
from .helpers import ALICE
from .test_delivery import LONG_ANSWER

pytestmark = pytest.mark.asyncio(loop_scope="package")
_ids = itertools.count(1)


async def _attempt(stack: Stack, job: Job, save: DyingSave) -> None:
    await attempt(stack.adapter.services.engine, stack.adapter.surface, job, save)


async def test_a_retry_within_the_nonce_window_gets_back_the_part_it_posted(
        stack: Stack) -> None:
    stack.llm.enqueue(text_reply(LONG_ANSWER), text_reply(LONG_ANSWER), when="synthesis")
    since = len(stack.fake.calls)
    first = _job(stack)
    save = DyingSave(after_part(1))
    with pytest.raises(asyncio.CancelledError):
        await _attempt(stack, first, save)

    retry = save.retry(first, _reply())  # a fresh run: no stored result to find parts by
    await _attempt(stack, retry, DyingSave())
    posts = stack.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages", since)
    nonces = [p.body["nonce"] for p in posts]
    created = {p.response["id"] for p in posts}
    assert len(nonces) > len(set(nonces))  # the retry did post again...
    assert len(created) == len(set(nonces))  # ...and Discord created each message once
    assert retry.reply["card"] == posts[0].response["id"] and retry.reply["answered"] is True


@pytest.fixture
def nonces_forgotten(stack: Stack) -> Iterator[None]:
    """Discord no longer remembers any nonce: the retry came after a long outage."""
    stack.fake.nonce_ttl = 0.0
    yield
    stack.fake.nonce_ttl = 120.0


@pytest.mark.parametrize("dies", [after_card, after_part(1), after_part(2)],
                         ids=["card", "first-part", "second-part"])
async def test_after_the_nonce_window_a_retry_finds_what_it_posted_in_the_history(
        stack: Stack, nonces_forgotten: None, dies: Dies) -> None:
    stack.llm.enqueue(text_reply(LONG_ANSWER), when="synthesis")
    first = _job(stack)
    # As the runners do it: the outcome is stored before the answer is posted, and a retry
    # replays it.
    first.result = await stack.adapter.services.engine.start(
        HeavyRequest(first.spec.question, first.config, id=first.id)).wait()
    since = len(stack.fake.calls)
    save = DyingSave(dies)
    with pytest.raises(asyncio.CancelledError):
        await _deliver(stack, first, save, first.result)

    retry = save.retry(first, _reply())
    retry.result = first.result
    await _deliver(stack, retry, DyingSave(), first.result)
    posts = stack.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages", since)
    made = [stack.fake.messages[p.response["id"]] for p in posts]
    assert len({p.response["id"] for p in posts}) == len(posts)  # no nonce came to the rescue
    assert sum("heavy:stop:" in str(p.body.get("components")) for p in posts) == 1  # one card
    texts = [m["content"] for m in made if m["content"]]
    assert len(texts) == len(set(texts)) == retry.reply["parts"] >= 3  # each part once
    assert retry.reply["card"] == made[0]["id"] and retry.reply["answered"] is True


async def _deliver(stack: Stack, job: Job, save: DyingSave, result: RunResult) -> None:
    pipeline = ReplyPipeline(cast(JobRunner, save), stack.adapter.surface, name="discord")
    await pipeline.deliver(job, replay_run(job, result))


def _reply() -> dict[str, Any]:
    return {"channel": CHANNEL_ID}


def _job(stack: Stack) -> Job:
    spec = JobSpec(platform="discord", workspace=GUILD_ID, channel=CHANNEL_ID, user=ALICE,
                   question="Q once", reply=_reply())
    return Job(id=f"once-{next(_ids)}", spec=spec, config=stack.config, attempts=1)
