"""The "Regenerate" and "Go deeper" buttons under a final answer.

Each button's value is only the job id. A press is checked against the job record
(`ReplyPipeline.press_follow_up`: same workspace and channel, the asker or an admin, a
finished job), never against what the button says, and then goes through the same path as any
question. Bolt routes presses by `action_id`, so buttons keep working after a restart.
"""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from heavy_engine import RequestRejected
from heavy_engine.conversations import Action
from heavy_engine.jobs import Job
from heavy_engine.settings import Scope

from ._bot import SlackBot
from ._intake import PLATFORM
from ._render import DEEPER_ACTION, REGENERATE_ACTION
from ._reply import SlackReply

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

    async def is_admin(job: Job) -> bool:  # a Web API call: only when the presser did not ask
        return await bot.admins.can_edit(user, Scope(PLATFORM, team, channel))

    try:
        question = await bot.delivery.press_follow_up(
            job_id, kind, user=user, workspace=team, channel=channel, is_admin=is_admin,
            click_id=str(action.get("action_ts") or body.get("trigger_id") or ""),
            reply=SlackReply(channel=channel, thread_ts=str(thread), team=team, user=user))
    except RequestRejected as err:
        await bot.tell(channel, user, f":information_source: {err.user_message}",
                       thread_ts=thread)
        return
    await bot.ask(question)
