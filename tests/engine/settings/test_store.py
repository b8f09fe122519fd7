"""Writes: validation before storage, optimistic concurrency, and an audit row per change."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig, RequestRejected, settings
from heavy_engine.db import Database
from heavy_engine.jobs import JobSpec
from heavy_engine.settings import (
    Scope,
    ScopeSettings,
    SettingsConflict,
    SettingsRefused,
    SettingsStore,
    check_value,
)

from .conftest import TOOLS, operator_config

CHANNEL = Scope("slack", "T1", "C1")


async def test_set_get_unset_reset(store: SettingsStore) -> None:
    assert (await store.get(CHANNEL)).version == 0
    saved = await store.set(CHANNEL, {"agents": "3", "tools": "calculate,web_search"},
                            actor="slack:U1")
    assert saved.values == {"agents": 3, "tools": ["calculate", "web_search"]}
    assert saved.version == 1
    got = await store.get(CHANNEL)
    assert (got.values, got.version, got.updated_by) == (saved.values, 1, "slack:U1")
    assert got.updated_at is not None and got.updated_at.tzinfo is not None
    assert (await store.unset(CHANNEL, ["agents"], actor="slack:U1")).values == {
        "tools": ["calculate", "web_search"]}
    reset = await store.reset(CHANNEL, actor="slack:U2")
    assert (reset.values, reset.version) == ({}, 3)


async def test_audit_row_for_every_change(store: SettingsStore) -> None:
    await store.set(CHANNEL, {"model": "a/large"}, actor="slack:U1")
    await store.set(CHANNEL, {"agents": 2}, actor="slack:U2")
    await store.set(CHANNEL, {"agents": 2}, actor="slack:U2")  # no change: no row
    await store.unset(CHANNEL, ["model"], actor="cli:ops")
    await store.unset(CHANNEL, ["timeout"], actor="cli:ops")  # was not set: no row
    await store.reset(CHANNEL, actor="discord:9")
    await store.set(Scope("slack", "T1"), {"agents": 6}, actor="other")  # another scope

    history = await store.history(CHANNEL)
    assert [(e.action, e.by, e.version) for e in history] == [
        ("reset", "discord:9", 4), ("unset", "cli:ops", 3), ("set", "slack:U2", 2),
        ("set", "slack:U1", 1),
    ]
    assert history[-1].before == {}
    for newer, older in itertools.pairwise(history):
        assert newer.before == older.after  # a chain: nothing happened off the record
        assert newer.at >= older.at
    assert history[0].after == {}
    assert [e.version for e in await store.history(CHANNEL, limit=2)] == [4, 3]
    assert history[1].as_dict()["at"].endswith("Z")


@pytest.mark.parametrize(("values", "key", "reason"), [
    ({"model": "z/unlisted"}, "model", "allowed models: a/small, a/large, b/fast"),  # not listed
    ({"orchestrator_model": "z/unlisted"}, "orchestrator_model", "allowed models"),  # same rule
    ({"agent.2.model": "z/unlisted"}, "agent.2.model", "allowed models"),  # per agent, too
    ({"agents": "0"}, "agents", "greater than or equal to 1"),  # below the bound
    ({"agents": "many"}, "agents", "valid integer"),  # not a number
    ({"temperature": "3"}, "temperature", "less than or equal to 2"),  # above the bound
    ({"timeout": "-5"}, "timeout", "greater than 0"),  # timeouts.request's bound, user's key
    ({"max_iterations": "51"}, "max_iterations", "less than or equal to 50"),  # above
    ({"tools": "calculate,rm_rf"}, "tools", "unknown tool 'rm_rf'; known: calculate"),  # no tool
    ({"tools": "calculate,calculate"}, "tools", "unique"),  # duplicates
    # installed but not allowed by the operator
    ({"tools": "web_search,mark_task_complete"}, "tools",
     "'mark_task_complete' not allowed here; allowed tools: calculate, web_search"),
    ({"thread_policy": "always"}, "thread_policy", "'mention' or 'follow'"),  # not a choice
    ({"system_prompt": "x" * 8001}, "system_prompt", "at most 8000"),  # too long
    ({"colour": "blue"}, "colour", "these are: model"),  # unknown key
    ({"agent.0.model": "a/large"}, "agent.0.model", "numbered 1 to 16"),  # agents from 1
    ({"model": "a/large", "agents": "99"}, "agents", "16"),  # one bad key spoils the write
])
async def test_refused_writes_change_nothing(
    store: SettingsStore, values: dict[str, Any], key: str, reason: str
) -> None:
    await store.set(CHANNEL, {"agents": 2}, actor="u")
    before = await store.get(CHANNEL)
    with pytest.raises(SettingsRefused) as info:
        await store.set(CHANNEL, values, actor="u")
    assert isinstance(info.value, ConfigError)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")
    assert reason in str(info.value)
    assert await store.get(CHANNEL) == before
    assert len(await store.history(CHANNEL)) == 1


async def test_unset_of_an_unknown_key_is_refused(store: SettingsStore) -> None:
    await store.set(CHANNEL, {"agents": 2}, actor="u")
    with pytest.raises(SettingsRefused, match=r"^colour: "):
        await store.unset(CHANNEL, ["agents", "colour"], actor="u")
    assert (await store.get(CHANNEL)).values == {"agents": 2}


@pytest.mark.parametrize("platform", [
    "",  # empty
    "Teams",  # upper case
    "1chat",  # must start with a letter
    "chat room",  # spaces
    "a" * 17,  # longer than the column
])
async def test_scope_needs_a_platform_name_and_a_workspace(platform: str) -> None:
    with pytest.raises(ValueError, match="platform must be 1-16 lower-case letters"):
        Scope(platform, "T1")
    with pytest.raises(ValueError, match="workspace"):
        Scope("slack", "")


async def test_a_plugin_platform_stores_settings_without_a_migration(
    store: SettingsStore,
) -> None:
    # An adapter installed as a plugin (here "teams") needs no schema change (0003_platform_free).
    scope = Scope("teams", "T1", "C1")
    await store.set(scope, {"agents": 3}, actor="teams:U1")
    assert (await store.get(scope)).values == {"agents": 3}
    assert [e.by for e in await store.history(scope)] == ["teams:U1"]


async def test_bad_request_flags_reject_the_job(store: SettingsStore) -> None:
    spec = JobSpec("slack", "T1", "C1", "U1", "q?", flags={"agents": 40})
    with pytest.raises(RequestRejected, match=r"^agents: "):
        await store.resolve_job(spec)


async def test_a_stale_version_conflicts(store: SettingsStore) -> None:
    v1 = await store.set(CHANNEL, {"agents": 2}, actor="a")
    await store.set(CHANNEL, {"agents": 3}, actor="b", expected_version=v1.version)
    with pytest.raises(SettingsConflict, match="version 1, it is now at version 2") as info:
        await store.set(CHANNEL, {"agents": 5}, actor="a", expected_version=v1.version)
    assert (info.value.expected, info.value.actual) == (1, 2)
    with pytest.raises(SettingsConflict):
        await store.unset(CHANNEL, ["agents"], actor="a", expected_version=1)
    with pytest.raises(SettingsConflict):
        await store.reset(CHANNEL, actor="a", expected_version=1)
    assert (await store.get(CHANNEL)).values == {"agents": 3}


@pytest.mark.parametrize("first", [True, False], ids=["insert-race", "update-race"])
async def test_two_writers_on_one_version_one_conflicts(
    store: SettingsStore, db_url: str, first: bool
) -> None:
    if not first:
        await store.set(CHANNEL, {"agents": 2}, actor="setup")
    version = (await store.get(CHANNEL)).version

    def other_process() -> ScopeSettings:
        """`heavy config set` beside the bot: its own event loop, engine and connection."""
        async def write() -> ScopeSettings:
            async with await Database.open(db_url, migrate=False) as other_db:
                other = SettingsStore(other_db, operator_config(), known_tools=TOOLS)
                return await other.set(CHANNEL, {"agents": 7}, actor="bob",
                                       expected_version=version)
        return asyncio.run(write())

    results = await asyncio.gather(
        store.set(CHANNEL, {"agents": 5}, actor="alice", expected_version=version),
        asyncio.to_thread(other_process),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, SettingsConflict)]
    wins = [r for r in results if isinstance(r, ScopeSettings)]
    assert (len(wins), len(conflicts)) == (1, 1), results
    final = await store.get(CHANNEL)
    assert final.values == wins[0].values and final.version == version + 1
    assert len(await store.history(CHANNEL)) == final.version  # one audit row per change


async def test_blind_concurrent_writers_lose_no_update(store: SettingsStore) -> None:
    keys = [f"agent.{n}.model" for n in range(1, 9)]
    await asyncio.gather(*(store.set(CHANNEL, {key: "b/fast"}, actor=key) for key in keys))
    final = await store.get(CHANNEL)
    assert set(final.values) == set(keys)
    assert final.version == len(keys)
    assert {e.by for e in await store.history(CHANNEL)} == set(keys)


def test_public_api() -> None:
    for name in settings.__all__:
        assert hasattr(settings, name), name
    assert {"SettingsStore", "Scope", "AdminPolicy", "SettingsRefused"} <= set(settings.__all__)


def test_without_allowed_tools_the_operator_tools_are_the_ceiling() -> None:
    config = HeavyConfig(tools=["calculate", "web_search"])
    assert config.choosable_tools == ["calculate", "web_search"]
    with pytest.raises(SettingsRefused, match="'fetch_url' not allowed here"):
        check_value(config, "tools", "calculate,fetch_url", ["calculate", "web_search", "fetch_url"])


async def test_update_sets_and_unsets_in_one_audited_write(store: SettingsStore) -> None:
    first = await store.set(CHANNEL, {"agents": 2, "model": "a/large"}, actor="u")
    saved = await store.update(CHANNEL, {"agents": 3}, ["model"], actor="v",
                               expected_version=first.version)
    assert (saved.values, saved.version) == ({"agents": 3}, 2)
    assert [e.after for e in await store.history(CHANNEL, limit=1)] == [{"agents": 3}]
    # a refused value leaves the unset undone too
    with pytest.raises(SettingsRefused):
        await store.update(CHANNEL, {"agents": 99}, ["agents"], actor="v")
    assert (await store.get(CHANNEL)).values == {"agents": 3}
