"""Delivery end to end: long answers, failures, expired tokens, pacing, restarts."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from heavy_engine import HeavyRequest
from heavy_engine.jobs import Job, JobSpec
from heavy_engine.testing import error_reply, slow_reply, text_reply

from .conftest import EDIT_INTERVAL, Stack
from .fake_discord import CHANNEL_ID, GUILD_ID, bot_user, message, thread_channel
from .helpers import ALICE, assert_safe_mentions, card_edits, message_posts, slash_heavy

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def _ask(stack: Stack, question: str) -> str:
    payload = slash_heavy(question)
    await stack.fake.interact(payload)
    await stack.fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    return stack.fake.original(payload["token"])


async def test_a_long_answer_is_split_without_breaking_fences_and_attached(stack: Stack) -> None:
    stack.llm.enqueue(text_reply(LONG_ANSWER), when="synthesis")
    card = await _ask(stack, "Show me a lot of code")
    await stack.finish(card)
    posts = message_posts(stack.fake, card)  # the thread started from the card
    contents = [p.body["content"] for p in posts]
    assert len(posts) == 5
    assert all(len(c) <= 2000 for c in contents)
    assert all(c.count("```") % 2 == 0 for c in contents)  # every fence closed where it opens
    [(name, data)] = posts[-1].files
    assert re.fullmatch(r"heavy-[0-9a-f]{16}\.md", name)  # named after the job
    assert data.decode() == LONG_ANSWER  # the whole answer, unsplit
    assert all(not p.files for p in posts[:-1])
    assert_safe_mentions(stack.fake)


async def test_a_failed_run_says_one_sentence_with_a_reference(stack: Stack) -> None:
    stack.llm.enqueue(error_reply(402, "Insufficient credits"),
                      error_reply(402, "Insufficient credits"), when="agent")
    card = await _ask(stack, "Will this fail?")
    final = await stack.finish(card)
    assert final.body["embeds"][0]["title"] == "❌ Failed"
    [notice] = message_posts(stack.fake, card)
    text = notice.body["content"]
    assert text.startswith(f"<@{ALICE}> ⚠️ ")  # the requester learns it is over
    assert notice.body["allowed_mentions"] == {"parse": [], "users": [int(ALICE)]}
    assert re.search(r"\(ref `[0-9a-f]{16}`\)$", text)  # the id the logs carry
    assert "Traceback" not in text and len(text) < 400


async def test_after_the_interaction_token_expires_the_bot_token_takes_over(
    stack: Stack,
) -> None:
    fake, delivery = stack.fake, stack.adapter.surface
    stack.llm.enqueue(slow_reply(0.6), when="synthesis")
    card = await _ask(stack, "A very long investigation")
    await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages/{card}/threads")
    expired_at = time.monotonic()
    delivery._clock = lambda: time.time() + 3600  # from now on, as if an hour went by
    try:
        final = await stack.finish(card)
    finally:
        delivery._clock = time.time
    assert final.path == f"/channels/{CHANNEL_ID}/messages/{card}"  # the bot token's route
    assert final.body["embeds"][0]["title"] == "✅ Done"
    assert not [c for c in fake.find("PATCH", r"/webhooks/.*") if c.at > expired_at + 0.05]
    assert message_posts(fake, card)  # the answer, with the bot token


async def test_a_token_discord_already_expired_hands_over_to_the_bot_token(
    stack: Stack,
) -> None:
    # Discord answers 401 "Invalid Webhook Token" (50027) once it has let the token go.
    fake = stack.fake
    for _ in range(30):
        fake.fail_next("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", status=401,
                       code=50027, message="Invalid Webhook Token")
    stack.llm.enqueue(slow_reply(0.6), when="synthesis")
    card = await _ask(stack, "A question outliving its token")

    def final_with_the_bot_token() -> bool:
        return any(c.status == 200 and c.body["embeds"][0]["title"] == "✅ Done"
                   for c in fake.find("PATCH", rf"/channels/{CHANNEL_ID}/messages/{card}"))

    try:
        await fake.wait_for(final_with_the_bot_token, within=10)
    finally:
        fake._failures.clear()
    await stack.drain()
    assert message_posts(fake, card)  # the answer, with the bot token


async def test_rate_limits_are_waited_out_by_discord_py(stack: Stack) -> None:
    fake = stack.fake
    fake.rate_limit_next("PATCH", r"/webhooks/\d+/[^/]+/messages/.+")  # a card edit
    fake.rate_limit_next("POST", r"/channels/\d+/messages")  # the answer
    card = await _ask(stack, "Anything, under rate limits")
    final = await stack.finish(card)
    assert final.body["embeds"][0]["title"] == "✅ Done"
    limited = [c for c in fake.calls if c.status == 429]
    assert len(limited) == 2
    answers = [c for c in message_posts(fake, card) if c.status == 200]
    assert len(answers) == 1  # retried once, posted once
    assert answers[0].at - limited[-1].at >= 0.15  # after the retry_after


async def test_without_thread_permission_the_answer_replies_to_the_card(stack: Stack) -> None:
    fake = stack.fake
    fake.fail_next("POST", r"/channels/\d+/messages/\d+/threads")  # Missing Permissions
    card = await _ask(stack, "No threads here")
    await stack.finish(card)
    [answer] = message_posts(fake, CHANNEL_ID)
    assert answer.body["message_reference"]["message_id"] == int(card)
    assert answer.body["content"].startswith(f"<@{ALICE}>\n")


async def test_when_the_bot_token_may_not_post_the_interaction_webhook_does(
    stack: Stack,
) -> None:
    fake = stack.fake
    fake.fail_next("POST", r"/channels/\d+/messages")  # e.g. a user-installed app
    payload = slash_heavy("Answer me anyway")
    await fake.interact(payload)
    await fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    await stack.finish(fake.original(payload["token"]))
    [followup] = fake.find("POST", rf"/webhooks/\d+/{payload['token']}")
    assert followup.body["content"].startswith(f"<@{ALICE}>\n")
    assert followup.query["wait"] == "1"


async def test_cards_in_one_channel_share_its_edit_pace(stack: Stack) -> None:
    for _ in range(4):
        stack.llm.enqueue(slow_reply(0.4), when="agent")
    first = await _ask(stack, "First question")
    second = await _ask(stack, "Second question")
    await stack.finish(first)
    await stack.finish(second)
    first_edits, second_edits = card_edits(stack.fake, first), card_edits(stack.fake, second)
    assert first_edits and second_edits
    edits = sorted(first_edits + second_edits, key=lambda c: c.at)
    gaps = [b.at - a.at for a, b in itertools.pairwise(edits)]
    assert min(gaps) >= EDIT_INTERVAL * 0.9, gaps  # one budget per channel, not per card


async def test_a_job_delivered_again_edits_its_card_and_never_reposts(stack: Stack) -> None:
    fake = stack.fake
    card = fake.new_id()
    fake.messages[card] = message(card, CHANNEL_ID, content="", author=bot_user())
    stack.llm.enqueue(text_reply("Short answer."), when="synthesis")
    job = _job(stack, "redelivered-1", {"channel": CHANNEL_ID, "card": card, "parts": 1,
                                 "reference": card})
    run = stack.adapter.services.engine.start(HeavyRequest("Q again", stack.config, id=job.id))
    await stack.adapter.delivery.deliver(job, run)
    assert not fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")  # no 2nd card or answer
    assert card_edits(fake, card)[-1].body["embeds"][0]["title"] == "✅ Done"
    assert job.reply["answered"] is True

    calls = len(fake.calls)
    again = stack.adapter.services.engine.start(HeavyRequest("Q again", stack.config, id="r2"))
    await stack.adapter.delivery.deliver(job, again)  # answered already: nothing at all
    await again.wait()
    assert len(fake.calls) == calls


async def test_a_thread_made_before_a_restart_is_reused(stack: Stack) -> None:
    fake = stack.fake
    card = fake.new_id()
    fake.messages[card] = message(card, CHANNEL_ID, content="", author=bot_user())
    fake.channels[card] = thread_channel(card, CHANNEL_ID, "made before the restart")
    job = _job(stack, "rethread-1", {"channel": CHANNEL_ID, "card": card, "make_thread": True,
                              "mention": True})
    run = stack.adapter.services.engine.start(HeavyRequest("Q again", stack.config, id=job.id))
    await stack.adapter.delivery.deliver(job, run)
    assert job.reply["thread"] == card  # Discord said it exists: a message's thread has its id
    assert message_posts(fake, card)  # the answer went there
    assert not message_posts(fake, CHANNEL_ID)


def _job(stack: Stack, job_id: str, reply: dict[str, object]) -> Job:
    """A job as the runner hands it over again after a restart, with its saved reply state."""
    spec = JobSpec(platform="discord", workspace=GUILD_ID, channel=CHANNEL_ID, user=ALICE,
                   question="Q again", reply=dict(reply))
    return Job(id=job_id, spec=spec, config=stack.config)


# -- payloads -------------------------------------------------------------------------------

LONG_ANSWER = "# A long answer\n\n" + "\n\n".join(
    f"## Part {i}\n\nSome prose about part {i}. " * 3
    + "\n\n```python\n" + "\n".join(f"value_{i}_{j} = {j} * {i}" for j in range(40)) + "\n```"
    for i in range(10)
)
