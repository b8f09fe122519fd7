"""The Stop button on a progress card: the requester or an admin cancels the run."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError

from heavy_engine.settings import Scope

from ._bot import PLATFORM, SlackBot
from ._cards import STOP_ACTION, stopped_in_queue_card
from ._delivery import STOPPED, WORKING, react
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")


def parse_stop_value(value: str) -> tuple[str, str] | None:
    """(job id, requester) from a Stop button, or None when it is not ours."""
    try:
        data = json.loads(value)
        return str(data["job"]), str(data["user"])
    except (ValueError, KeyError, TypeError):
        return None


def stop_trigger(value: str) -> str | None:
    """The asking message's ts, which a queued note's Stop button carries."""
    try:
        trigger = json.loads(value).get("t")
    except (ValueError, AttributeError):
        return None
    return str(trigger) if trigger else None


def register(app: AsyncApp, bot: SlackBot) -> None:
    @app.action(STOP_ACTION)
    async def on_stop(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        await bot.track(bot.guarded(_stop(bot, body, action, channel, user, thread),
                                    channel=channel, user=user, thread_ts=thread))


async def _stop(bot: SlackBot, body: dict[str, Any], action: dict[str, Any],
                channel: str | None, user: str | None, thread: str | None) -> None:
    parsed = parse_stop_value(action.get("value") or "")
    if parsed is None or not channel or not user:
        return
    job_id, requester = parsed
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    if user != requester and not await bot.admins.can_edit(user, Scope(PLATFORM, team, channel)):
        await bot.tell(channel, user, f"Only <@{requester}> or a workspace admin can stop "
                                      "this run.", thread_ts=thread)
        return
    runner = bot.services.runner
    queued = runner.get_run(job_id) is None  # no run yet: no delivery will show the stop
    if not await runner.cancel(job_id):
        await bot.tell(channel, user, "This run has already finished.", thread_ts=thread)
        return
    log.info("job %s stopped by %s", job_id, user)
    note = (body.get("message") or {}).get("ts")
    if queued and note:
        text, blocks = stopped_in_queue_card()
        try:
            await bot.client.chat_update(channel=channel, ts=note, text=text, blocks=blocks)
        except SlackApiError as err:  # e.g. the note was deleted: the reactions still change
            log.info("could not update the queued note %s: %s", note, api_error(err))
        trigger = stop_trigger(action.get("value") or "")
        await react(bot.client, channel, trigger, WORKING, remove=True)
        await react(bot.client, channel, trigger, STOPPED)
