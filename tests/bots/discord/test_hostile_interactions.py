"""Hostile interactions against the real discord.py client (issue 10, Discord probing):
malformed commands and forged Stop custom ids are refused or ignored, nothing crashes, the
gateway stays connected and no run is cancelled that the presser may not stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from .conftest import Stack
from .fake_discord import GUILD_ID
from .helpers import (
    ALICE,
    BOB,
    button_press,
    interaction,
    running_card,
    slash_heavy,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")
CALLBACK = r"/interactions/{}/[^/]+/callback"
OTHER_CHANNEL = "920000000000000099"  # a channel of the same server where the run is not
OTHER_GUILD = "910000000000000099"


async def _running_card(stack: Stack) -> tuple[str, str, str]:
    """A run by ALICE whose agents hang: (card id, Stop custom id, job id)."""
    card, custom_id = await running_card(stack)
    return card, custom_id, custom_id.split(":")[2]


def _forged(fake: Any, card: str, custom_id: str, uid: str) -> dict[str, Any]:
    """A press whose message carries `custom_id` (discord.py only dispatches ids the message
    holds, as Discord only sends those)."""
    press = button_press(fake, card, custom_id, uid)
    press["message"] = {**press["message"], "components": [{"type": 1, "components": [
        {"type": 2, "style": 4, "label": "Stop", "custom_id": custom_id}]}]}
    return press


async def _answer(stack: Stack, press: dict[str, Any]) -> dict[str, Any]:
    """The interaction's reply (its callback, or the follow-up after a deferral)."""
    await stack.fake.interact(press)
    [ack] = await stack.fake.wait_call("POST", CALLBACK.format(press["id"]))
    if ack.body["type"] == 5:  # deferred: the text comes as a follow-up
        [said] = await stack.fake.wait_call("POST", r"/webhooks/\d+/" + press["token"])
        return {"content": said.body["content"], "flags": said.body.get("flags")}
    return dict(ack.body["data"])


async def test_forged_stop_presses_are_refused_and_the_run_goes_on(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    fake = stack.fake
    card, custom_id, job_id = await _running_card(stack)
    identifies = len(fake.identifies)
    with caplog.at_level(logging.INFO):
        # Bob names himself as the requester in the custom id: the record says Alice asked.
        press = _forged(fake, card, f"heavy:stop:{job_id}:{BOB}", BOB)
        said = await _answer(stack, press)
        assert "Only the person who asked" in said["content"] and said["flags"] == 64
        # The same forged id pressed from another channel, and from another server.
        for where in ({"channel_id": OTHER_CHANNEL},
                      {"guild_id": OTHER_GUILD, "channel_id": OTHER_CHANNEL}):
            press = _forged(fake, card, f"heavy:stop:{job_id}:{BOB}", BOB)
            press.update(where)
            press["channel"] = {**press["channel"], "id": where["channel_id"]}
            said = await _answer(stack, press)
            assert "not for a run in this channel" in said["content"] and said["flags"] == 64
        # A job that does not exist.
        press = _forged(fake, card, f"heavy:stop:nosuchjob:{BOB}", BOB)
        said = await _answer(stack, press)
        assert said["content"] == "This run has already finished." and said["flags"] == 64
        # Ids that do not match the button's pattern are not ours: nothing answers them.
        for garbage in ("heavy:stop:", f"heavy:stop:{job_id}:bob", f"heavy:stop:{'j' * 61}:1",
                        f"heavy:stop:{job_id}:{'9' * 25}", "x" * 100, ""):
            await fake.interact(_forged(fake, card, garbage, BOB))
        await asyncio.sleep(0.3)
    job = await stack.runner.get_job(job_id)
    assert job is not None and job.status == "running" and job.stopped_by is None
    assert len(fake.identifies) == identifies  # the gateway connection held
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # The requester may still stop it.
    said = await _answer(stack, button_press(fake, card, custom_id, ALICE))
    assert said["content"] == "Stopping…"
    final = await stack.finish(card)
    assert final.body["embeds"][0]["title"] == "⏹️ Stopped"


def _command(data: Any, **extra: Any) -> dict[str, Any]:
    payload = interaction(data, kind=2, **extra)
    if data is None:
        del payload["data"]
    return payload


# Application-command and component interactions Discord would not send for our commands;
# each row names what is wrong.
MALFORMED: list[dict[str, Any]] = [
    _command(None),  # no data at all
    _command({}),  # data without a name
    _command({"id": "1", "name": "nosuchcommand", "type": 1}),  # a command we never made
    _command({"id": "1", "name": "heavy", "type": 1}),  # no options: the question is required
    _command({"id": "1", "name": "heavy", "type": 1, "options": "question"}),  # not a list
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": 5}]}),  # not a string
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": None}]}),
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": "q"},
                          {"name": "agents", "type": 4, "value": "many"}]}),
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": "q"},
                          {"name": "agents", "type": 4, "value": 10 ** 30}]}),
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": "q"},
                          {"name": "nosuchoption", "type": 3, "value": "x"}]}),
    _command({"id": "1", "name": "heavy", "type": 1,
              "options": [{"name": "question", "type": 3, "value": "x" * 7000}]}),
    _command({"id": "1", "name": "heavy-config", "type": 1,
              "options": [{"name": "nosuchsub", "type": 1, "options": []}]}),
    _command({"id": "1", "name": "heavy-config", "type": 1,
              "options": [{"name": "set", "type": 1, "options": [
                  {"name": "temperature", "type": 10, "value": "hot"}]}]}),
    interaction({"component_type": 2}, kind=3),  # a button press without a custom id
    interaction({"custom_id": "heavy:stop:x:1", "component_type": 3, "values": "no"}, kind=3),
    interaction({"custom_id": "nosuchmodal", "components": []}, kind=5),  # a modal submit
    interaction({"id": "1", "name": "heavy", "type": 1, "options": [
        {"name": "model", "type": 3, "value": ["x"], "focused": True}]}, kind=4),  # autocomplete
    interaction({}, kind=99),  # an interaction type that does not exist
]


async def test_malformed_interactions_crash_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    fake = stack.fake
    identifies = len(fake.identifies)
    with caplog.at_level(logging.INFO):
        for payload in MALFORMED:
            payload["guild_id"] = GUILD_ID
            await fake.interact(payload)
        await asyncio.sleep(1.0)
        answers = fake.find("POST", r"/interactions/\d+/[^/]+/callback")
    assert len(fake.identifies) == identifies, "the gateway connection was dropped"
    for ack in answers:  # whatever was answered, only the presser saw it
        data = ack.body.get("data") or {}
        if ack.body.get("type") == 4:
            assert data.get("flags") == 64, ack.body
            assert "Traceback" not in data.get("content", "")
    assert not await stack.runner.get_job("x")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    print("\n".join(f"{r.name}: {r.getMessage()[:160]}" for r in errors))
    assert not errors
    # And the service still answers.
    payload = slash_heavy("Still there?")
    await fake.interact(payload)
    await fake.wait_call("POST", CALLBACK.format(payload["id"]))
    final = await stack.finish(fake.original(payload["token"]))
    assert final.body["embeds"][0]["title"] == "✅ Done"
