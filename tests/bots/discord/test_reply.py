"""`DiscordReply`: the reply target read from rows of every version; a slash command's response
is addressing that the delivery adopts as the ledger's card; the thread made from the card is
a new target saved with the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from bots.discord._reply import DiscordReply
from heavy_engine.testing import text_reply

from .conftest import Stack
from .helpers import INTERACTION_CALLBACK, message_posts, slash_heavy


@pytest.mark.parametrize(("row", "expected"), [
    # a slash command stored before the target was typed: the adapter wrote the ledger's
    # `card`; it is the ledger's to read, not the target's
    ({"channel": "1", "card": "9", "make_thread": True, "mention": True,
      "application_id": "7", "interaction_token": "tok", "interaction_at": 100.5,
      "parts": 1},
     DiscordReply("1", mention=True, make_thread=True, application_id="7",
                  interaction_token="tok", interaction_at=100.5)),
    # a message answered in the thread made from it, replying to it
    ({"channel": "2", "reference": "8", "mention": False},
     DiscordReply("2", reference="8")),
    # a slash command's thread, made and recorded
    ({"channel": "1", "thread": "9", "mention": True, "card": "9", "answered": True},
     DiscordReply("1", mention=True, thread="9")),
])
def test_a_stored_row_reads_as_its_target(row: dict[str, Any], expected: DiscordReply) -> None:
    assert DiscordReply.from_reply(row) == expected


def test_the_flat_form_round_trips_and_holds_no_ledger_key() -> None:
    target = DiscordReply("1", mention=True, make_thread=True, response="9",
                          application_id="7", interaction_token="tok", interaction_at=1.0)
    assert DiscordReply.from_reply(target.as_dict()) == target
    assert not target.as_dict().keys() & {"card", "answer", "parts", "answered"}


@pytest.mark.parametrize(("thread", "expected"), [
    ("5", DiscordReply("1", thread="5")),  # made (or found made): the answer goes there
    (None, DiscordReply("1", reference="9")),  # refused: under the card, in the channel
])
def test_the_thread_of_the_card_is_a_new_target(thread: str | None,
                                                expected: DiscordReply) -> None:
    before = DiscordReply("1", make_thread=True)
    assert before.threaded(thread, card="9") == expected
    assert before.make_thread  # frozen: the old target is unchanged


def test_a_refused_token_leaves_the_bot_token() -> None:
    target = DiscordReply("1", application_id="7", interaction_token="tok", interaction_at=1.0)
    assert target.without_webhook().interaction_token is None
    assert "interaction_token" not in target.without_webhook().as_dict()


@pytest.mark.asyncio(loop_scope="package")
async def test_a_slash_commands_response_becomes_the_card_and_its_thread_is_saved(
    stack: Stack,
) -> None:
    stack.llm.enqueue(text_reply("Short answer."), when="synthesis")
    payload = slash_heavy("Where does the answer go?")
    await stack.fake.interact(payload)
    await stack.fake.wait_call("POST", INTERACTION_CALLBACK.format(payload["id"]))
    card = stack.fake.original(payload["token"])
    await stack.finish(card)
    job = await stack.runner.store.find("discord", f"interaction:{payload['id']}")
    assert job is not None  # as the database holds it now
    target = DiscordReply.from_reply(job.reply)
    assert target.response == job.reply["card"] == card  # addressing, adopted by the ledger
    assert target.thread is not None and not target.make_thread  # saved with the ledger
    assert message_posts(stack.fake, target.thread)  # and the answer went there
    assert job.reply["answered"] is True
