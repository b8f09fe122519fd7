"""The Stop button on a progress card: the requester or an admin cancels the run."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from heavy_engine.delivery import may_stop
from heavy_engine.jobs import Job
from heavy_engine.settings import Scope

from ._bot import PLATFORM, SlackBot
from ._cards import STOP_ACTION

log = logging.getLogger("heavy.slack")


def parse_stop_value(value: str) -> tuple[str, str] | None:
    """(job id, requester) from a Stop button, or None when it is not ours."""
    try:
        data = json.loads(value)
        return str(data["job"]), str(data["user"])
    except (ValueError, KeyError, TypeError, RecursionError):  # a forged value
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
    if not channel or not user:
        return
    # Only the job id is read from the button: the value comes back from the client, so who
    # asked and where are taken from the job's record.
    parsed = parse_stop_value(action.get("value") or "")
    job = await bot.services.runner.get_job(parsed[0]) if parsed else None
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    if parsed and job is None:  # e.g. a card older than the job records kept
        await bot.tell(channel, user, "This run has already finished.", thread_ts=thread)
        return
    if job is None or not _asked_here(job, team, channel):
        log.info("slack: %s pressed Stop for %s, not a run of %s", user,
                 parsed[0] if parsed else "an unreadable value", channel)
        await bot.tell(channel, user, "This Stop button is not for a run in this "
                                      "channel: nothing was stopped.", thread_ts=thread)
        return
    requester = job.spec.user
    # The admin lookup is a Web API call: only made when the presser did not ask.
    admin = user != requester and await bot.admins.can_edit(
        user, Scope(PLATFORM, job.spec.workspace, job.spec.channel))
    if not may_stop(user, requester, admin):
        await bot.tell(channel, user, f"Only <@{requester}> or a workspace admin can stop "
                                      "this run.", thread_ts=thread)
        return
    if not await bot.delivery.stop(job.id, by=user):
        await bot.tell(channel, user, "This run has already finished.", thread_ts=thread)


def _asked_here(job: Job, team: str, channel: str) -> bool:
    """The job is a Slack run whose card lives in this workspace's `channel`."""
    spec = job.spec
    return (spec.platform == PLATFORM and spec.workspace in ("", team)
            and str(spec.reply.get("channel") or spec.channel) == channel)
