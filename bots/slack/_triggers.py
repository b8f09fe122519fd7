"""Events that start a run: mentions in channels, DMs, and replies in followed threads.

Bolt acknowledges events before these listeners run (and drops the bot's own events); the
listeners then skip an `event_id` that already made a job (a retry) and hand the question to
the runner, whose unique dedup key per job is the durable guard.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from ._bot import SlackBot
from ._incoming import is_answerable, message_trigger, slack_to_plain, thread_root


def register(app: AsyncApp, bot: SlackBot) -> None:
    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any],
                         context: AsyncBoltContext) -> None:
        # DMs arrive as message.im; answering the mention too would answer twice.
        if not is_answerable(event) or str(event.get("channel", "")).startswith("D"):
            return
        await bot.track(bot.guarded(
            _answer(bot, body, event, context), channel=event.get("channel"),
            user=event.get("user"), thread_ts=thread_root(event)))

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any],
                         context: AsyncBoltContext) -> None:
        trigger = message_trigger(event, context.bot_user_id or "")
        if trigger is None:
            return
        if trigger == "follow":
            thread = str(event["thread_ts"])
            by_bot = event.get("parent_user_id") == context.bot_user_id
            if not (by_bot or await bot.answered_in(_team(body, event), event["channel"], thread)):
                return
            config = await bot.channel_config(_team(body, event), event["channel"])
            if config.thread_policy != "follow":
                return
        await bot.track(bot.guarded(
            _answer(bot, body, event, context), channel=event.get("channel"),
            user=event.get("user"), thread_ts=thread_root(event)))


def _team(body: dict[str, Any], event: dict[str, Any]) -> str:
    return str(body.get("team_id") or event.get("team") or "")


async def _answer(bot: SlackBot, body: dict[str, Any], event: dict[str, Any],
                  context: AsyncBoltContext) -> None:
    if await bot.duplicate(body.get("event_id")):
        return
    bot_user = context.bot_user_id or ""
    channel, thread = event["channel"], thread_root(event)
    history = None
    if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
        history = await bot.history.context(channel, thread, before_ts=event["ts"],
                                            bot_user_id=bot_user)
    await bot.ask(
        team=_team(body, event), channel=channel, user=event["user"],
        question=slack_to_plain(event.get("text") or "", bot_user),
        thread_ts=thread, trigger_ts=event["ts"], dedup_key=body.get("event_id"),
        context=history,
    )
