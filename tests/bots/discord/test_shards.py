"""Discord shards split across replicas: DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS give each
replica its shards; an event two sessions both see is answered once (tests/bots/discord/
test_durable.py and the runner's dedup key cover the second half)."""

from __future__ import annotations

import asyncio

import pytest

from bots.discord import DiscordOptions, create_adapter

from .conftest import Stack
from .fake_discord import BOT_ID, CHANNEL_ID
from .helpers import message_posts
from .test_connection import _services
from .test_mentions import _card_in, said

shared_loop = pytest.mark.asyncio(loop_scope="package")


@pytest.mark.parametrize(("env", "count", "ids"), [
    ({"DISCORD_SHARD_COUNT": "4"}, 4, None),  # every shard in this process
    ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0,1"}, 4, (0, 1)),
    ({"DISCORD_SHARD_COUNT": "6", "DISCORD_SHARD_IDS": "2-4"}, 6, (2, 3, 4)),
    ({"DISCORD_SHARD_COUNT": "6", "DISCORD_SHARD_IDS": " 0, 3-4 "}, 6, (0, 3, 4)),
])
def test_shards_from_the_environment(env: dict[str, str], count: int,
                                     ids: tuple[int, ...] | None) -> None:
    options = DiscordOptions.from_env({"DISCORD_TOKEN": "t", **env})
    assert options is not None
    assert (options.sharded, options.shard_count, options.shard_ids) == (True, count, ids)


@pytest.mark.parametrize(("env", "message"), [
    ({"DISCORD_SHARD_IDS": "0"}, "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
    ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT must be a whole number"),
    ({"DISCORD_SHARD_COUNT": "two"}, "DISCORD_SHARD_COUNT must be a whole number"),
    ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "below DISCORD_SHARD_COUNT=2"),
    ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,1"}, "distinct shards"),
    ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "a-b"}, "shard numbers like 0,1"),
])
def test_bad_shards_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DiscordOptions.from_env({"DISCORD_TOKEN": "t", **env})


@shared_loop
async def test_a_replica_identifies_only_its_shards(stack: Stack) -> None:
    fake = stack.fake
    env = {"DISCORD_TOKEN": "fake-token", "DISCORD_API_URL": fake.api_url,
           "DISCORD_GATEWAY_URL": fake.gateway_url, "DISCORD_SHARD_COUNT": "4",
           "DISCORD_SHARD_IDS": "2"}
    adapter = create_adapter(_services(stack, env))
    assert adapter is not None
    adapter.client._connection.guild_ready_timeout = 0.05
    identified = len(fake.identifies)
    await adapter.start()
    try:
        await asyncio.wait_for(adapter.ready.wait(), timeout=60)  # start-up: generous
    finally:
        await adapter.stop()
    assert [i["shard"] for i in fake.identifies[identified:]] == [[2, 4]]


@shared_loop
async def test_a_message_seen_by_two_sessions_is_answered_once(stack: Stack) -> None:
    # During a deploy two sessions can hold one shard: both get the same MESSAGE_CREATE.
    fake = stack.fake
    msg = said(f"<@{BOT_ID}> Which is older, Go or Rust?")
    await fake.user_message(msg)
    await fake.dispatch("MESSAGE_CREATE", msg)
    card = await _card_in(stack, msg["id"])
    await stack.finish(card)
    await asyncio.sleep(0.2)  # a second answer would be on its way by now
    threads = fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/{msg['id']}/threads")
    # Both sessions may try to start the thread; Discord refuses the second, which then
    # leaves the message to the first (or the dedup key drops it when it comes later).
    assert len([t for t in threads if t.status < 300]) == 1
    assert len(message_posts(fake, msg["id"])) == 2  # one card, one answer
    assert not message_posts(fake, CHANNEL_ID)  # no second answer in the channel
