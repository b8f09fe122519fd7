"""The Stop button on a progress card: the requester or an admin cancels the run."""

from __future__ import annotations

import functools
import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from heavy_engine.jobs import Job
from heavy_engine.settings import Scope

from ._bot import SlackBot
from ._intake import PLATFORM
from ._render import STOP_ACTION


def parse_stop_value(value: str) -> tuple[str, str] | None:
    """(job id, requester) from a Stop button, or None when it is not ours."""
    try:
        data = json.loads(value)
        return str(data["job"]), str(data["user"])
    except (ValueError, KeyError, TypeError, RecursionError):  # a forged value
        return None


def register(app: AsyncApp, bot: SlackBot) -> None:
    app.action(STOP_ACTION)(bot.acked(functools.partial(_stop, bot)))


async def _stop(bot: SlackBot, body: dict[str, Any], action: dict[str, Any],
                context: AsyncBoltContext) -> None:
    channel, user, team = context.channel_id, context.user_id, context.team_id or ""
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts")
    if not channel or not user:
        return
    parsed = parse_stop_value(action.get("value") or "")

    async def is_admin(job: Job) -> bool:  # a Web API call: only when the presser did not ask
        return await bot.admins.can_edit(user, Scope(PLATFORM, job.spec.workspace,
                                                     job.spec.channel))

    # An unreadable value is "not for this channel", like a job of another channel.
    outcome, job = await bot.delivery.press_stop(
        parsed[0] if parsed else None, user=user, workspace=team, channel=channel,
        is_admin=is_admin)
    if outcome == "over":
        await bot.tell(channel, user, "This run has already finished.", thread_ts=thread)
    elif outcome == "not_here":
        await bot.tell(channel, user, "This Stop button is not for a run in this "
                                      "channel: nothing was stopped.", thread_ts=thread)
    elif outcome == "not_allowed" and job is not None:
        await bot.tell(channel, user, f"Only <@{job.spec.user}> or a workspace admin can stop "
                                      "this run.", thread_ts=thread)
