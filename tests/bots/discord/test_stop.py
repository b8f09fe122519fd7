"""The Stop button: the requester or a channel admin cancels the run; anyone else is refused."""

from __future__ import annotations

import asyncio

import pytest

from bots.discord import _wiring

from .conftest import Stack
from .helpers import (
    ALICE,
    BOB,
    MOD,
    button_press,
    running_card,
    slash_heavy,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")
CALLBACK = r"/interactions/{}/[^/]+/callback"


@pytest.mark.parametrize("stopper", [ALICE, MOD], ids=["requester", "channel-admin"])
async def test_stop_cancels_the_run(stack: Stack, stopper: str) -> None:
    fake = stack.fake
    card, custom_id = await running_card(stack)
    press = button_press(fake, card, custom_id, stopper)
    await fake.interact(press)
    [ack] = await fake.wait_call("POST", CALLBACK.format(press["id"]))
    assert ack.body["data"]["content"] == "Stopping…"
    assert ack.body["data"]["flags"] == 64  # ephemeral: only the presser sees it
    final = await stack.finish(card)
    embed = final.body["embeds"][0]
    assert embed["title"] == "⏹️ Stopped"
    assert f"Stopped by <@{stopper}>." in embed["description"]
    assert final.body["components"] == []
    assert all(r.cancelled or r.finished for r in stack.llm.calls("agent"))  # nothing left


async def test_stop_by_someone_else_is_refused(stack: Stack) -> None:
    fake = stack.fake
    card, custom_id = await running_card(stack)
    press = button_press(fake, card, custom_id, BOB)
    await fake.interact(press)
    [ack] = await fake.wait_call("POST", CALLBACK.format(press["id"]))
    assert "Only the person who asked" in ack.body["data"]["content"]
    assert ack.body["data"]["flags"] == 64
    await asyncio.sleep(0.2)
    assert stack.runner.lifecycle.runs, "the run goes on"
    # Clean up: the requester stops it.
    press = button_press(fake, card, custom_id, ALICE)
    await fake.interact(press)
    final = await stack.finish(card)
    assert final.body["embeds"][0]["title"] == "⏹️ Stopped"


async def test_stop_after_the_end_says_so(stack: Stack) -> None:
    fake = stack.fake
    payload = slash_heavy("Quick one")
    await fake.interact(payload)
    await fake.wait_call("POST", CALLBACK.format(payload["id"]))
    card = fake.original(payload["token"])
    await stack.finish(card)
    # A client that still shows an old card with its button (e.g. after a restart).
    custom_id = f"heavy:stop:finishedjob:{ALICE}"
    press = button_press(fake, card, custom_id, ALICE)
    press["message"] = {**press["message"], "components": [{"type": 1, "components": [
        {"type": 2, "style": 4, "label": "Stop", "custom_id": custom_id}]}]}
    await fake.interact(press)
    [ack] = await fake.wait_call("POST", CALLBACK.format(press["id"]))
    assert ack.body["data"]["content"] == "This run has already finished."


async def test_a_slow_cancel_still_answers_the_press_in_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Discord fails a press not answered within 3 s; cancelling may wait on the database.
    monkeypatch.setattr(_wiring, "STOP_ACK_WITHIN", 0.1)
    cancel = stack.runner.cancel

    async def slow_cancel(job_id: str, *, by: str | None = None) -> bool:
        await asyncio.sleep(0.6)
        return await cancel(job_id, by=by)

    monkeypatch.setattr(stack.runner, "cancel", slow_cancel)
    fake = stack.fake
    card, custom_id = await running_card(stack)
    press = button_press(fake, card, custom_id, ALICE)
    await fake.interact(press)
    [ack] = await fake.wait_call("POST", CALLBACK.format(press["id"]))
    assert ack.body["type"] == 5 and ack.body["data"]["flags"] == 64  # deferred, ephemeral
    [said] = await fake.wait_call("POST", r"/webhooks/\d+/" + press["token"])
    assert said.at - ack.at >= 0.4  # the answer came once the cancel was done
    assert said.body["content"] == "Stopping…" and said.body["flags"] == 64
    final = await stack.finish(card)
    assert final.body["embeds"][0]["title"] == "⏹️ Stopped"
