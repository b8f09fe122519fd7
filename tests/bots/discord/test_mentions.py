"""@-mentions, thread follow-ups and DMs end to end (MESSAGE_CREATE through the real client)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from heavy_engine.settings import Scope

from .conftest import Stack
from .fake_discord import (
    BOT_ID,
    CHANNEL_ID,
    EPOCH,
    GUILD_ID,
    bot_user,
    message,
    user,
)
from .helpers import ALICE, assert_safe_mentions, message_posts

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def _card_in(stack: Stack, channel: str) -> str:
    """The progress card posted in `channel` (the first post carrying an embed)."""

    def card() -> str | None:
        for call in message_posts(stack.fake, channel):
            if call.body and call.body.get("embeds"):
                return str(call.response["id"])
        return None

    found: str = await stack.fake.wait_for(card)
    return found


async def test_a_mention_in_a_channel_starts_a_thread_and_answers_there(stack: Stack) -> None:
    fake = stack.fake
    msg = said(f"<@{BOT_ID}> Is Rust faster than Go for a CLI?")
    await fake.user_message(msg)
    [thread] = await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages/{msg['id']}/threads")
    assert thread.body["name"] == "Is Rust faster than Go for a CLI?"  # mention stripped
    card = await _card_in(stack, msg["id"])  # a thread from a message has the message's id
    await stack.finish(card)
    posts = message_posts(fake, msg["id"])
    assert posts[0].body["components"][0]["components"][0]["custom_id"].startswith("heavy:stop:")
    answer = posts[1].body
    assert answer["content"].startswith(f"<@{ALICE}>\n")
    assert "message_reference" not in answer  # in its own thread, no reply needed
    assert not message_posts(fake, CHANNEL_ID)  # nothing lands in the channel itself
    assert_safe_mentions(fake)


async def test_a_mention_inside_a_thread_replies_there_with_the_thread_as_context(
    stack: Stack,
) -> None:
    fake = stack.fake
    thread = await fake.open_thread()
    fake.messages[thread] = message(thread, CHANNEL_ID, content="Which database for us?",
                                    author=user(ALICE, "alice"))  # the thread's starter
    answered = fake.new_id()
    fake.messages[answered] = message(answered, thread, author=bot_user(),
                                      content="PostgreSQL, mostly for its tooling.")
    msg = said(f"<@{BOT_ID}> and for a tiny team?", channel=thread)
    await fake.user_message(msg)
    card = await _card_in(stack, thread)
    await stack.finish(card)
    assert not fake.find("POST", r"/channels/\d+/messages/\d+/threads")  # no new thread
    [first] = [c for c in message_posts(fake, thread) if c.body.get("embeds")]
    assert first.body["message_reference"]["message_id"] == int(msg["id"])
    prompt = str(stack.llm.calls("decompose")[0].body)
    assert "Earlier messages in this Discord thread, oldest first" in prompt
    assert "[alice] Which database for us?" in prompt
    assert "[heavy] PostgreSQL, mostly for its tooling." in prompt


async def test_replies_in_the_bots_thread_follow_only_when_the_channel_says_so(
    stack: Stack,
) -> None:
    fake = stack.fake
    thread = await fake.open_thread()
    await fake.user_message(said("what about costs?", channel=thread, mention=False))
    await asyncio.sleep(0.3)
    assert not fake.sent_messages()  # thread_policy "mention" (the default): ignored

    scope = Scope("discord", GUILD_ID, CHANNEL_ID)
    await stack.settings.set(scope, {"thread_policy": "follow"}, actor="test")
    try:
        await fake.user_message(said("what about costs?", channel=thread, mention=False))
        card = await _card_in(stack, thread)
        await stack.finish(card)
    finally:
        await stack.settings.reset(scope, actor="test")
    assert len(message_posts(fake, thread)) >= 2  # the card and the answer


async def test_a_dm_is_answered_directly_without_a_ping(stack: Stack) -> None:
    fake = stack.fake
    msg = said("How do I pick a message queue?", channel=DM_CHANNEL, mention=False, guild=None)
    await fake.user_message(msg)
    card = await _card_in(stack, DM_CHANNEL)
    await stack.finish(card)
    posts = message_posts(fake, DM_CHANNEL)
    assert posts[0].body["message_reference"]["message_id"] == int(msg["id"])
    answer = posts[1].body
    assert not answer["content"].startswith("<@")
    assert answer["allowed_mentions"] == {"parse": []}  # nobody pinged in a DM
    assert not fake.find("POST", r"/channels/\d+/messages/\d+/threads")


async def test_a_bare_mention_gets_the_usage_hint(stack: Stack) -> None:
    fake = stack.fake
    msg = said(f"<@{BOT_ID}>")
    await fake.user_message(msg)
    [hint] = await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert "mention me with a question" in hint.body["content"]
    assert hint.body["message_reference"]["message_id"] == int(msg["id"])
    assert hint.body["allowed_mentions"]["parse"] == []


async def test_other_bots_are_ignored(stack: Stack) -> None:
    fake = stack.fake
    await fake.user_message(said(f"<@{BOT_ID}> loop with me", author=OTHER_BOT, bot=True))
    await asyncio.sleep(0.3)
    assert not fake.sent_messages()
    assert not stack.llm.calls()


# -- payloads ---------------------------------------------------------------------------------

OTHER_BOT = "940000000000000099"
DM_CHANNEL = "970000000000000001"
_ids = itertools.count(980_000_000_000_000_001)


def said(content: str, *, channel: str = CHANNEL_ID, author: str = ALICE, bot: bool = False,
         mention: bool = True, guild: str | None = GUILD_ID) -> dict[str, Any]:
    """A MESSAGE_CREATE as Discord sends it for a user's message."""
    mentions = [{**bot_user(), "member": {"roles": [], "joined_at": EPOCH, "deaf": False,
                                          "mute": False, "flags": 0}}] if mention else []
    out = message(str(next(_ids)), channel, content=content,
                  author=user(author, "alice" if author == ALICE else "robot", bot=bot),
                  guild=guild, mentions=mentions)
    if guild is not None:
        out["member"] = {"roles": [], "joined_at": EPOCH, "deaf": False, "mute": False,
                         "flags": 0}
    return out
