"""Feedback on answers: Slack's thumbs up / down (`feedback_buttons`) under a final answer.

A press is stored with the job (its `feedback` column: the latest rating wins), counted in
`heavy_feedback_total{platform,value}` and shown in App Home's recent questions. The job id
comes from the button's value, which the client sends back: it is only believed when the job
is a Slack job of this workspace and the press came from the job's own channel, i.e. from
someone who can see the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError

from heavy_engine.jobs import JobHistory

from ._bot import SlackBot
from ._intake import PLATFORM
from ._markdown import FEEDBACK_ACTION, parse_feedback
from ._reply import SlackReply
from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

THANKS = {"good": "Thanks! Glad it helped.",
          "bad": "Thanks for telling me. Asking again with more detail often helps."}


def register(app: AsyncApp, bot: SlackBot) -> None:
    history = JobHistory(bot.services.settings.db, bot.services.config)

    app.action(FEEDBACK_ACTION)(bot.acked(
        lambda body, action, context: _rate(bot, history, body, action, context)))


async def _rate(bot: SlackBot, history: JobHistory, body: dict[str, Any],
                action: dict[str, Any], context: AsyncBoltContext) -> None:
    parsed = parse_feedback(str(action.get("value") or ""))
    channel, user = context.channel_id or "", context.user_id or ""
    team, client = context.team_id or "", context.client
    if parsed is None or not channel or not user:
        log.info("slack: feedback with an unreadable value ignored")
        return
    value, job_id = parsed
    job = await bot.services.runner.get_job(job_id)
    if (job is None or job.spec.platform != PLATFORM or job.spec.workspace != team
            or SlackReply.from_reply(job.reply).channel != channel):
        log.info("slack: feedback from %s for job %s not from the job's channel: ignored",
                 user, job_id)
        return
    await history.set_feedback(job.id, value)
    bot.services.metrics.feedback.inc(platform=PLATFORM, value=value)
    log.info("slack: %s rated job %s %s", user, job.id, value)
    message = body.get("message") or {}
    try:  # with the token of the workspace the press came from (Bolt's per-request client)
        await client.chat_postEphemeral(channel=channel, user=user, text=THANKS[value],
                                        thread_ts=message.get("thread_ts") or message.get("ts"))
    except SlackApiError as err:
        log.info("thanking %s for feedback failed: %s", user, api_error(err))
