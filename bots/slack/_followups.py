"""The "Regenerate" and "Go deeper" buttons under a final answer.

Each button's value is only the job id. A press is checked against the job record
(`heavy_engine.conversations.follow_up`: same workspace and channel, the asker or an admin, a
finished job), never against what the button says, and then goes through the same path as any
question. Bolt routes presses by `action_id`, so buttons keep working after a restart.
"""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from heavy_engine import RequestRejected
from heavy_engine.conversations import Action, follow_up
from heavy_engine.settings import Scope

from ._bot import SlackBot
from ._intake import PLATFORM, slack_question
from ._render import DEEPER_ACTION, REGENERATE_ACTION

_ACTIONS: dict[str, Action] = {REGENERATE_ACTION: "regenerate", DEEPER_ACTION: "deeper"}
MAX_VALUE = 100  # job ids are short; anything longer is not ours


def register(app: AsyncApp, bot: SlackBot) -> None:
    for action_id in _ACTIONS:
        app.action(action_id)(bot.acked(functools.partial(_press, bot)))


async def _press(bot: SlackBot, body: dict[str, Any], action: dict[str, Any],
                 context: AsyncBoltContext) -> None:
    channel, user, team = context.channel_id, context.user_id, context.team_id or ""
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts")
    kind = _ACTIONS.get(str(action.get("action_id")))
    job_id = str(action.get("value") or "")
    if kind is None or not channel or not user or not job_id or len(job_id) > MAX_VALUE:
        return
    job = await bot.services.runner.get_job(job_id)
    # The admin lookup is a Web API call: only made when the presser did not ask.
    asker = job.spec.user if job is not None else None
    admin = user != asker and await bot.admins.can_edit(user, Scope(PLATFORM, team, channel))
    try:
        spec = follow_up(job, kind, platform=PLATFORM, workspace=team, channel=channel,
                         user=user, is_admin=admin,
                         click_id=str(action.get("action_ts") or body.get("trigger_id") or ""))
    except RequestRejected as err:
        await bot.tell(channel, user, f":information_source: {err.user_message}",
                       thread_ts=thread)
        return
    await bot.ask(slack_question(
        team=team, channel=channel, user=user, text=spec.question,
        thread_ts=spec.thread or str(thread), trigger_ts=None, dedup_key=spec.dedup_key,
        context=spec.context, flags=spec.flags, attachments=spec.attachments))
