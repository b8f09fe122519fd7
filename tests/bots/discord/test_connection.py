"""Connecting: environment switches, intents, gateway and REST overrides, sharding."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from typing import Any

import pytest

from bots.discord import DiscordAdapter, DiscordOptions, create_adapter, intents
from heavy_engine import Engine
from heavy_engine.jobs import DurableRunner, JobStore, Services

from .conftest import Stack

shared_loop = pytest.mark.asyncio(loop_scope="package")  # the async tests use the shared stack

GUILDS, GUILD_MESSAGES, DM_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),  # no token: the adapter stays off
    ({"DISCORD_TOKEN": "  "}, None),  # blank is no token
    ({"DISCORD_TOKEN": "t"}, DiscordOptions(token="t")),  # defaults
    ({"DISCORD_TOKEN": "t", "DISCORD_API_URL": "http://proxy:8080/api/v10/",
      "DISCORD_GATEWAY_URL": "ws://proxy:8081", "DISCORD_GUILD_ID": "123",
      "DISCORD_SHARDED": "true", "DISCORD_EDIT_INTERVAL": "2"},
     DiscordOptions(token="t", api_url="http://proxy:8080/api/v10", gateway_url="ws://proxy:8081",
                    dev_guild=123, sharded=True, edit_interval=2.0)),  # every switch
    ({"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "not-a-number"},
     DiscordOptions(token="t")),  # a bad guild id is ignored, not fatal
])
def test_options_from_env(env: dict[str, str], expected: DiscordOptions | None) -> None:
    assert DiscordOptions.from_env(env) == expected


@pytest.mark.parametrize("interval", [
    "fast",  # not a number
    "0",  # no pacing at all: every card edit would meet Discord's 429s
    "-1",  # negative
    "nan",  # compares false with everything, so it would never wait
])
def test_a_bad_edit_interval_is_refused_by_name(interval: str) -> None:
    with pytest.raises(ValueError, match="DISCORD_EDIT_INTERVAL"):
        DiscordOptions.from_env({"DISCORD_TOKEN": "t", "DISCORD_EDIT_INTERVAL": interval})


def test_the_token_never_shows_in_a_repr() -> None:
    # A repr reaches logs and tracebacks (the Slack settings hide theirs the same way).
    options = DiscordOptions.from_env({"DISCORD_TOKEN": "MTIz.secret-token"})
    assert options is not None and "secret-token" not in repr(options)


def test_the_entry_point_and_public_surface() -> None:
    import bots.discord
    from heavy_engine.plugins import group

    [entry] = [e for e in entry_points(group=group("adapters")) if e.name == "discord"]
    assert entry.value == "bots.discord:create_adapter"
    assert entry.load() is create_adapter
    assert sorted(bots.discord.__all__) == ["DiscordAdapter", "DiscordOptions",
                                            "create_adapter", "intents"]
    assert all(hasattr(bots.discord, name) for name in bots.discord.__all__)


def test_intents_include_message_content_for_follow_ups() -> None:
    assert intents().value == GUILDS | GUILD_MESSAGES | DM_MESSAGES | MESSAGE_CONTENT


@shared_loop
async def test_identify_sent_the_intents(stack: Stack) -> None:
    identify = stack.fake.identifies[0]
    assert identify["token"] == "fake-token"
    assert identify["intents"] == intents().value


@shared_loop
async def test_create_adapter_is_off_without_a_token(stack: Stack) -> None:
    services = _services(stack, {})
    assert create_adapter(services) is None
    adapter = create_adapter(_services(stack, {"DISCORD_TOKEN": "x"}))
    assert isinstance(adapter, DiscordAdapter)
    assert adapter.routes() == []  # the gateway, not HTTP routes
    await adapter.client.close()


@shared_loop
async def test_a_sharded_client_from_the_environment(stack: Stack) -> None:
    """DISCORD_SHARDED asks /gateway/bot (under DISCORD_API_URL) and identifies a shard."""
    fake = stack.fake
    env = {"DISCORD_TOKEN": "fake-token", "DISCORD_API_URL": fake.api_url,
           "DISCORD_GATEWAY_URL": fake.gateway_url, "DISCORD_SHARDED": "1",
           "DISCORD_GUILD_ID": "910000000000000001"}
    services = _services(stack, env)
    adapter = create_adapter(services)
    assert adapter is not None
    adapter.client._connection.guild_ready_timeout = 0.05
    identified = len(fake.identifies)
    await adapter.start()
    try:
        await asyncio.wait_for(adapter.ready.wait(), timeout=60)  # start-up: generous
    finally:
        await adapter.stop()
    assert fake.find("GET", r"/users/@me") and fake.find("GET", r"/gateway/bot")
    assert fake.identifies[identified]["shard"] == [0, 1]
    assert fake.find("PUT", r"/applications/\d+/commands")  # global commands synced
    assert fake.find("PUT", r"/applications/\d+/guilds/910000000000000001/commands")  # and dev


def _services(stack: Stack, env: dict[str, Any]) -> Services:
    engine: Engine = stack.adapter.services.engine
    # Its own runner: registering a delivery must not replace the shared adapter's.
    runner = DurableRunner(engine, JobStore(stack.settings.db, stack.config),
                           stack.settings.resolve_job, stack.config)
    return Services(config=stack.config, engine=engine, runner=runner, settings=stack.settings,
                    env=env)
