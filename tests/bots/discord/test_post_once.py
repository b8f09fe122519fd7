"""A message is posted at most once, even when the worker dies between Discord accepting a post
and the ledger recording it: every post's nonce is its tag, so the retry's repeated post gets
the first message back (`enforce_nonce`) instead of a second one."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from heavy_engine.runtime import Job, JobSpec
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


@pytest.mark.parametrize("dies", [after_card, after_part(1)], ids=["card", "answer-part"])
async def test_a_retry_gets_back_what_a_killed_worker_posted(stack: Stack, dies: Dies) -> None:
    stack.llm.enqueue(text_reply(LONG_ANSWER), text_reply(LONG_ANSWER), when="synthesis")
    since = len(stack.fake.calls)
    first = _job(stack)
    save = DyingSave(dies)
    with pytest.raises(asyncio.CancelledError):
        await _attempt(stack, first, save)

    retry = save.retry(first, _reply())
    await _attempt(stack, retry, DyingSave())
    posts = stack.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages", since)
    nonces = [p.body["nonce"] for p in posts]
    created = {p.response["id"] for p in posts}
    assert len(nonces) > len(set(nonces))  # the retry did post again...
    assert len(created) == len(set(nonces))  # ...and Discord created each message once
    assert retry.reply["card"] == posts[0].response["id"] and retry.reply["answered"] is True


def _reply() -> dict[str, Any]:
    return {"channel": CHANNEL_ID}


def _job(stack: Stack) -> Job:
    spec = JobSpec(platform="discord", workspace=GUILD_ID, channel=CHANNEL_ID, user=ALICE,
                   question="Q once", reply=_reply())
    return Job(id=f"once-{next(_ids)}", spec=spec, config=stack.config, attempts=1)
