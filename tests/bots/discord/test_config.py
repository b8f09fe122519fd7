"""`/heavy-config show | set | reset`: permissions checked in code, changes saved and audited."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from heavy_engine.settings import Scope

from .conftest import Stack
from .fake_discord import CHANNEL_ID, GUILD_ID
from .helpers import ADMIN, ALICE, MANAGE_CHANNELS, MOD, interaction, slash_heavy

pytestmark = pytest.mark.asyncio(loop_scope="package")
CHANNEL = Scope("discord", GUILD_ID, CHANNEL_ID)
SERVER = Scope("discord", GUILD_ID)


@pytest_asyncio.fixture(loop_scope="package")
async def clean(stack: Stack) -> AsyncIterator[Stack]:
    yield stack
    for scope in (CHANNEL, SERVER):
        if (await stack.settings.get(scope)).values:
            await stack.settings.reset(scope, actor="test")


async def _reply(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    """Run a command; its ephemeral follow-up message (after the deferred callback)."""
    await stack.fake.interact(payload)
    [defer] = await stack.fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    assert defer.body["type"] == 5 and defer.body["data"]["flags"] == 64  # ephemeral
    [follow] = await stack.fake.wait_call("POST", rf"/webhooks/\d+/{payload['token']}")
    assert follow.body["flags"] == 64
    assert follow.body["allowed_mentions"] == {"parse": []}
    body: dict[str, Any] = follow.body
    return body


async def test_commands_are_synced_with_the_permission_hint(stack: Stack) -> None:
    commands = {c["name"]: c for c in stack.fake.commands["global"]}
    assert set(commands) == {"heavy", "heavy-config"}
    config = commands["heavy-config"]
    assert int(config["default_member_permissions"]) == MANAGE_CHANNELS
    assert [o["name"] for o in config["options"]] == ["show", "set", "reset"]
    set_options = {o["name"]: o for o in config["options"][1]["options"]}
    assert [c["value"] for c in set_options["model"]["choices"]] == ["fake/model", "fake/other"]
    assert (set_options["agents"]["min_value"], set_options["agents"]["max_value"]) == (1, 16)
    heavy = {o["name"]: o for o in commands["heavy"]["options"]}
    assert heavy["model"]["autocomplete"] is True
    assert heavy["question"]["required"] is True


@pytest.mark.parametrize(("uid", "scope", "needs"), [
    (ALICE, "channel", "Manage Channels"),  # an ordinary member, this channel
    (MOD, "server", "Manage Server"),  # a channel admin may not change the server default
    (ALICE, "server", "Manage Server"),  # nor may a member
])
async def test_refusals_say_why(clean: Stack, uid: str, scope: str, needs: str) -> None:
    reply = await _reply(clean, config_cmd("set", uid, scope=scope, agents=3))
    assert needs in reply["content"]
    assert not (await clean.settings.get(CHANNEL)).values
    assert not (await clean.settings.get(SERVER)).values


async def test_a_channel_admin_sets_the_channel_and_runs_use_it(clean: Stack) -> None:
    # The stack is shared: other test files may have changed this channel before (and audited it).
    earlier = (await clean.settings.get(CHANNEL)).version
    reply = await _reply(clean, config_cmd("set", MOD, model="fake/other", agents=3))
    assert reply["content"].startswith(f"Saved for <#{CHANNEL_ID}>:")
    saved = await clean.settings.get(CHANNEL)
    assert saved.values == {"model": "fake/other", "agents": 3}
    [change] = [e for e in await clean.settings.history(CHANNEL) if e.version > earlier]
    assert (change.by, change.action) == (f"discord:{MOD}", "set")  # audited with the actor

    payload = slash_heavy("Does the channel setting apply?")
    await clean.fake.interact(payload)
    await clean.fake.wait_call("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
    await clean.finish(clean.fake.original(payload["token"]))
    agent_models = {c.body["model"] for c in clean.llm.calls("agent") if c.body}
    assert agent_models == {"fake/other"}
    assert len(clean.llm.calls("decompose")[0].body["messages"][0]["content"]) > 0
    assert "exactly 3" in clean.llm.calls("decompose")[0].body["messages"][0]["content"]


async def test_a_server_admin_sets_the_default_and_show_reports_sources(clean: Stack) -> None:
    await _reply(clean, config_cmd("set", ADMIN, scope="server", thread_policy="follow"))
    await _reply(clean, config_cmd("set", MOD, agents=5))
    shown = (await _reply(clean, config_cmd("show", ALICE)))["content"]
    assert "`thread_policy` = `follow` · server default" in shown
    assert "`agents` = `5` · this channel" in shown
    assert "`model` = `fake/model` · operator default" in shown
    assert f"Last change: set by <@{MOD}>" in shown


async def test_reset_one_setting_then_all(clean: Stack) -> None:
    await _reply(clean, config_cmd("set", MOD, agents=5, temperature=0.2))
    reply = await _reply(clean, config_cmd("reset", MOD, setting="agents"))
    assert reply["content"].startswith("Reset `agents`")
    assert (await clean.settings.get(CHANNEL)).values == {"temperature": 0.2}
    await _reply(clean, config_cmd("reset", MOD))
    assert (await clean.settings.get(CHANNEL)).values == {}
    actions = [h.action for h in await clean.settings.history(CHANNEL)]
    assert actions[:3] == ["reset", "unset", "set"]  # newest first, every change audited


async def test_a_value_the_operator_forbids_is_refused(clean: Stack) -> None:
    reply = await _reply(clean, config_cmd("set", MOD, model="evil/expensive"))
    assert reply["content"].startswith("Not saved: model:")
    assert "not allowed" in reply["content"]
    assert not (await clean.settings.get(CHANNEL)).values


async def test_set_without_values_asks_for_one(clean: Stack) -> None:
    reply = await _reply(clean, config_cmd("set", MOD))
    assert "pick at least one setting" in reply["content"]


async def test_an_internal_error_gives_a_reference_not_a_traceback(
    clean: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(clean.settings, "resolve", broken)
    reply = await _reply(clean, config_cmd("show", ALICE))
    found = re.fullmatch(r"⚠️ Something went wrong on my side \(ref `([0-9a-f]{8})`\)\.",
                         reply["content"])
    assert found, reply["content"]
    assert any(found[1] in r.getMessage() and r.exc_info for r in caplog.records)  # logged


# -- payloads -------------------------------------------------------------------------------

_TYPES = {"scope": 3, "model": 3, "agents": 4, "thread_policy": 3, "temperature": 10,
          "timeout": 4, "system_prompt": 3, "setting": 3}


def config_cmd(sub: str, uid: str, **options: Any) -> dict[str, Any]:
    """`/heavy-config <sub> [option:value ...]` as Discord sends a subcommand."""
    opts = [{"name": k, "type": _TYPES[k], "value": v} for k, v in options.items()]
    data = {"id": "2", "name": "heavy-config", "type": 1,
            "options": [{"name": sub, "type": 1, "options": opts}]}
    return interaction(data, kind=2, uid=uid)
