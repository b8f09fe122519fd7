"""Events that start a run: mentions in channels, DMs, and replies in followed threads.

Bolt acknowledges events before these listeners run (and drops the bot's own events); the
listeners hand the question, with the `event_id` as its dedup key, to `bot.ask`: the reply
pipeline skips an `event_id` that already made a job (a retry), and the runner's unique dedup
key per job is the durable guard.

Context: a question inside a thread gets the thread's earlier messages; a top-level DM gets the
last exchanges of that DM from heavy's own job history (no rate-limited history call). Files
(`files`, subtype `file_share` included) are downloaded with the bot token from Slack's file
host only (`slack_policy`); a file heavy cannot use is named under the answer.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from heavy_engine.attachments import slack_policy
from heavy_engine.conversations import dm_context, recent_exchanges

from ._bot import SlackBot
from ._incoming import is_answerable, message_trigger, slack_to_plain, thread_root
from ._intake import PLATFORM, slack_question, with_files


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
            if not (by_bot or await bot.answered_in(context.team_id or "", event["channel"], thread)):
                return
            config = await bot.channel_config(context.team_id or "", event["channel"])
            if config.thread_policy != "follow":
                return
        await bot.track(bot.guarded(
            _answer(bot, body, event, context), channel=event.get("channel"),
            user=event.get("user"), thread_ts=thread_root(event)))


async def _answer(bot: SlackBot, body: dict[str, Any], event: dict[str, Any],
                  context: AsyncBoltContext) -> None:
    bot_user = context.bot_user_id or ""
    # Bolt's context: the installation's workspace (a shared channel's event names the sender's)
    team, channel, thread = context.team_id or "", event["channel"], thread_root(event)

    async def history() -> str | None:
        if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
            return await bot.history.context(channel, thread, before_ts=event["ts"],
                                             bot_user_id=bot_user)
        if event.get("channel_type") == "im":  # a new top-level DM: that DM's last exchanges
            earlier = await recent_exchanges(bot.services.settings.db, PLATFORM, team, channel)
            return dm_context(earlier)
        return None

    token = context.bot_token or bot.client.token
    question = slack_question(
        team=team, channel=channel, user=event["user"],
        text=slack_to_plain(event.get("text") or "", bot_user), thread_ts=thread,
        trigger_ts=event["ts"], dedup_key=body.get("event_id"), context=history)
    await bot.ask(with_files(question, event,
                             slack_policy(token, {"SLACK_API_URL": bot.client.base_url})))
