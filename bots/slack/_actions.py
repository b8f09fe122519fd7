"""The Stop button on a progress card: the requester or an admin cancels the run."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from heavy_engine.delivery import may_stop
from heavy_engine.settings import Scope

from ._bot import PLATFORM, SlackBot
from ._cards import STOP_ACTION

log = logging.getLogger("heavy.slack")


def parse_stop_value(value: str) -> tuple[str, str] | None:
    """(job id, requester) from a Stop button, or None when it is not ours."""
    try:
        data = json.loads(value)
        return str(data["job"]), str(data["user"])
    except (ValueError, KeyError, TypeError):
        return None


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
    # The admin lookup is a Web API call: only made when the presser did not ask.
    admin = user != requester and await bot.admins.can_edit(user, Scope(PLATFORM, team, channel))
    if not may_stop(user, requester, admin):
        await bot.tell(channel, user, f"Only <@{requester}> or a workspace admin can stop "
                                      "this run.", thread_ts=thread)
        return
    if not await bot.delivery.stop(job_id, by=user):
        await bot.tell(channel, user, "This run has already finished.", thread_ts=thread)
