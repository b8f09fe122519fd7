"""`allow_users`, `block_users`, `allow_roles`: validated, audited, kept per level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from heavy_engine.cli import main
from heavy_engine.jobs import JobSpec, may_ask
from heavy_engine.settings import Scope, SettingsRefused, SettingsStore

WORKSPACE = Scope("discord", "G1")
CHANNEL = Scope("discord", "G1", "C1")


@pytest.mark.parametrize(("key", "raw", "stored"), [
    # comma-separated, spaces ignored, duplicates dropped
    ("block_users", "U1, U2,,U1", ["U1", "U2"]),
    # mentions pasted from chat become ids
    ("allow_users", "<@123>,<@!456>", ["123", "456"]),
    # role mentions too
    ("allow_roles", "<@&789>", ["789"]),
    # an empty value clears the level's list
    ("allow_users", "", []),
    # a list is taken as is
    ("block_users", ["U9"], ["U9"]),
])
async def test_values_are_parsed(store: SettingsStore, key: str, raw: Any,
                                 stored: list[str]) -> None:
    saved = await store.set(CHANNEL, {key: raw}, actor="discord:1")
    assert saved.values == {key: stored}


@pytest.mark.parametrize("raw", ["U 1", "<script>", "x" * 65])
async def test_bad_ids_are_refused_naming_the_key(store: SettingsStore, raw: str) -> None:
    with pytest.raises(SettingsRefused) as caught:
        await store.set(CHANNEL, {"block_users": raw}, actor="discord:1")
    assert caught.value.key == "block_users" and "is not a user or role id" in str(caught.value)
    assert (await store.get(CHANNEL)).version == 0


async def test_levels_are_kept_apart(store: SettingsStore) -> None:
    await store.set(WORKSPACE, {"block_users": "U1", "allow_roles": "R1"}, actor="discord:1")
    await store.set(CHANNEL, {"block_users": "U2", "allow_users": "U3"}, actor="discord:1")
    resolved = await store.resolve("discord", "G1", "C1")
    access = resolved.config.access
    assert access.workspace.block_users == ["U1"] and access.channel.block_users == ["U2"]
    # shown: every blocked id, and the innermost allow list
    assert resolved.values["block_users"] == ["U1", "U2"]
    assert resolved.values["allow_users"] == ["U3"]
    assert resolved.sources["block_users"] == "channel"
    assert resolved.sources["allow_roles"] == "workspace"
    # the workspace's block still holds in the channel, and its role gate too
    assert may_ask(resolved.config, "U1", ["R1"]) is not None
    assert may_ask(resolved.config, "U3", []) is not None  # lacks the workspace's role
    assert may_ask(resolved.config, "U3", ["R1"]) is None
    assert may_ask(resolved.config, "U4", ["R1"]) is not None  # not on the channel's list
    other = await store.resolve("discord", "G1", "C2")
    assert may_ask(other.config, "U4", ["R1"]) is None


async def test_a_request_flag_cannot_change_who_may_ask(store: SettingsStore) -> None:
    with pytest.raises(SettingsRefused, match="only be set for a workspace or a channel"):
        await store.resolve("discord", "G1", "C1", {"allow_users": "U1"})
    with pytest.raises(Exception, match="only be set for a workspace or a channel"):
        await store.resolve_job(JobSpec("discord", "G1", "C1", "U1", "q",
                                        flags={"block_users": ""}))


def test_heavy_config_set_block_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    scope = ["--platform", "slack", "--workspace", "T1", "--channel", "C1"]
    assert main(["config", "set", *scope, "block_users=U1,U2"]) == 0
    capsys.readouterr()
    assert main(["config", "show", *scope, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["effective"]["block_users"] == ["U1", "U2"]
    assert shown["source"]["block_users"] == "channel"
    assert main(["config", "history", *scope, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert history[0]["after"] == {"block_users": ["U1", "U2"]}
    assert main(["config", "set", *scope, "block_users=U 1"]) == 2
    assert "block_users" in capsys.readouterr().err
