"""`/heavy` end to end: the real discord.py client against the fake Discord and the fake LLM."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from heavy_engine.testing import error_reply, slow_reply, text_reply

from .conftest import EDIT_INTERVAL, Stack
from .fake_discord import CHANNEL_ID
from .helpers import (
    ALICE,
    assert_safe_mentions,
    card_edits,
    interaction,
    message_posts,
    slash_heavy,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")

CALLBACK = r"/interactions/\d+/[^/]+/callback"


async def test_slash_defers_at_once_then_answers_in_a_thread(stack: Stack) -> None:
    fake = stack.fake
    sent_at = time.monotonic()
    payload = slash_heavy("Compare SQLite and PostgreSQL for a small team")
    await fake.interact(payload)
    [defer] = await fake.wait_call("POST", CALLBACK)
    assert defer.body["type"] == 5  # deferred "thinking" response
    assert defer.at - sent_at < 3.0  # Discord's deadline for the first response
    card_id = fake.original(payload["token"])
    [thread] = await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages/{card_id}/threads")
    assert thread.body["name"] == "Compare SQLite and PostgreSQL for a small team"
    await stack.finish(card_id)

    posts = message_posts(fake, card_id)  # the thread's id is the card's id
    assert posts, "the answer was posted in the thread with the bot token"
    first, last = posts[0].body, posts[-1].body
    assert first["content"].startswith(f"<@{ALICE}>\n")
    assert first["allowed_mentions"]["users"] == [int(ALICE)]  # only the requester is pinged
    assert "-# fake/model" in last["content"]  # footer: models, agents, time, tokens, cost
    assert "2/2 agents" in last["content"]
    edits = card_edits(fake, card_id)
    final = edits[-1].body
    assert final["embeds"][0]["title"] == "✅ Done"
    assert final["components"] == []  # no Stop button once finished
    assert f"<#{card_id}>" in final["embeds"][0]["description"]
    assert_safe_mentions(fake)


async def test_sixteen_failing_agents_with_long_sub_questions_still_end_the_card(
    stack: Stack
) -> None:
    # The largest card there is: every field holds a long sub-question and an error.
    questions = [f"Sub-question {i}: " + "which part of the system limits this, and why? " * 6
                 for i in range(16)]
    stack.llm.enqueue(text_reply(json.dumps({"questions": questions})), when="decompose")
    stack.llm.enqueue(*[error_reply(400, "Rejected by the content filter. " * 6)
                        for _ in range(16)], when="agent")
    payload = slash_heavy("Why does everything fail?", agents=16)
    await stack.fake.interact(payload)
    await stack.fake.wait_call("POST", CALLBACK)
    final = await stack.finish(stack.fake.original(payload["token"]))
    embed = final.body["embeds"][0]
    assert embed["title"] == "❌ Failed" and len(embed["fields"]) == 16
    assert final.status == 200  # the fake enforces Discord's 6,000 characters per message


async def test_the_sub_questions_and_agents_show_on_the_card(stack: Stack) -> None:
    fake = stack.fake
    stack.llm.enqueue(slow_reply(0.8), when="synthesis")
    payload = slash_heavy("What limits a Discord bot?", agents=3)
    await fake.interact(payload)
    await fake.wait_call("POST", CALLBACK)
    card_id = fake.original(payload["token"])

    def researching() -> Any:
        return [e for e in card_edits(fake, card_id)
                if "Writing the answer" in e.body["embeds"][0]["title"]]

    [edit, *_] = await fake.wait_for(researching, within=10)
    embed = edit.body["embeds"][0]
    assert len(embed["fields"]) == 3  # one per agent, as the `agents` option asked
    assert all(f["name"].startswith(f"Agent {i + 1} · ✅ ok") for i, f in
               enumerate(embed["fields"]))
    assert edit.body["components"][0]["components"][0]["label"] == "Stop"
    await stack.finish(card_id)


async def test_progress_edits_are_throttled_per_channel_and_the_last_is_final(
    stack: Stack,
) -> None:
    fake = stack.fake
    # A synthesis that streams many small deltas over ~1.5 s: far more events than edits.
    words = " ".join(f"word{i}" for i in range(120))
    stack.llm.enqueue(text_reply(words, delay=0.0), when="synthesis")
    for _ in range(2):
        stack.llm.enqueue(slow_reply(0.6), when="agent")
    payload = slash_heavy("Stream a long answer")
    await fake.interact(payload)
    await fake.wait_call("POST", CALLBACK)
    card_id = fake.original(payload["token"])
    await stack.finish(card_id)
    edits = card_edits(fake, card_id)
    assert len(edits) >= 2
    gaps = [b.at - a.at for a, b in itertools.pairwise(edits)]
    assert min(gaps) >= EDIT_INTERVAL * 0.9, gaps  # never faster than the channel's pace
    assert edits[-1].body["embeds"][0]["title"] == "✅ Done"  # the final state always lands


async def test_an_over_long_question_is_refused_with_a_sentence(stack: Stack) -> None:
    fake = stack.fake
    payload = slash_heavy("x" * 9000)
    await fake.interact(payload)
    # A refusal is for the asker only: the public "thinking" goes, an ephemeral note says why.
    await fake.wait_call("DELETE", r"/webhooks/\d+/[^/]+/messages/@original")
    [note] = await fake.wait_call("POST", r"/webhooks/\d+/[^/]+")
    assert "9000 characters" in note.body["content"] and note.body["flags"] == 64
    assert note.body["allowed_mentions"]["parse"] == []


async def test_a_blank_question_gets_the_usage_hint(stack: Stack) -> None:
    fake = stack.fake
    payload = slash_heavy("   ")
    await fake.interact(payload)
    [edit] = await fake.wait_call("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
    assert "/heavy question:" in edit.body["content"]


async def test_model_autocomplete_offers_the_allowed_models(stack: Stack) -> None:
    fake = stack.fake
    await fake.interact(autocomplete_model("oth"))
    [answer] = await fake.wait_call("POST", CALLBACK)
    assert answer.body == {"type": 8, "data": {"choices": [
        {"name": "fake/other", "value": "fake/other"}]}}


async def test_a_model_outside_the_allowed_list_is_refused(stack: Stack) -> None:
    fake = stack.fake
    payload = slash_heavy("Which model?", model="evil/expensive")
    await fake.interact(payload)
    [note] = await fake.wait_call("POST", r"/webhooks/\d+/[^/]+")
    assert "not allowed" in note.body["content"] and note.body["flags"] == 64
    assert not stack.llm.calls()


# -- payloads (shapes as Discord sends them) ------------------------------------------------


def autocomplete_model(typed: str) -> dict[str, Any]:
    opts = [{"name": "question", "type": 3, "value": "q"},
            {"name": "model", "type": 3, "value": typed, "focused": True}]
    return interaction({"id": "1", "name": "heavy", "type": 1, "options": opts}, kind=4)
