"""Message shortcut "Ask heavy about this thread" (callback_id `ask_heavy_thread`): the chosen
message and its thread become the context of a question, and the answer goes in that thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from ._bot import SlackBot
from ._context import format_thread
from ._incoming import slack_to_plain

CALLBACK_ID = "ask_heavy_thread"
QUOTE_CHARS = 1500
_NOT_A_MEMBER = ("I can't read this conversation, so I can't answer in it. In a channel, "
                 "invite me with `/invite @heavy` and try again.")
_AFTER_ALL = "9999999999.999999"  # a ts later than every message: the whole thread


def shortcut_question(message_text: str) -> str:
    """What heavy is asked: about the chosen message, with the thread as context."""
    quoted = " ".join(message_text.split())
    if len(quoted) > QUOTE_CHARS:
        quoted = quoted[: QUOTE_CHARS - 1] + "…"
    return ("Look into this message from a Slack thread (the thread is in the context): "
            f"\"{quoted}\". Check its claims against sources, answer the questions it and "
            "the thread leave open, and say what the discussion is missing.")


def register(app: AsyncApp, bot: SlackBot) -> None:
    @app.shortcut(CALLBACK_ID)
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                          context: AsyncBoltContext) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        await bot.track(bot.guarded(_ask(bot, body, respond, context), channel=channel,
                                    user=user))


async def _ask(bot: SlackBot, body: dict[str, Any], respond: AsyncRespond,
               context: AsyncBoltContext) -> None:
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or ""
    user = (body.get("user") or {}).get("id") or ""
    team = (body.get("team") or {}).get("id") or context.team_id or ""
    if not channel or not user or not message.get("ts"):
        return
    root = str(message.get("thread_ts") or message["ts"])
    bot_user = context.bot_user_id or ""
    messages = await bot.history.messages(channel, root)
    if not messages:
        # Slack answers with at least the thread's first message: nothing means heavy may not
        # read here (not a member, a DM between people), so it could not answer here either.
        await respond(text=_NOT_A_MEMBER, response_type="ephemeral")
        return
    if not any(m.get("ts") == message["ts"] for m in messages):
        messages = [*messages, message]
    history = format_thread(messages, bot_user_id=bot_user, before_ts=_AFTER_ALL)
    question = shortcut_question(slack_to_plain(message.get("text") or "", bot_user))
    await bot.ask(team=team, channel=channel, user=user, question=question,
                  thread_ts=root, trigger_ts=str(message["ts"]),
                  dedup_key=f"shortcut:{body.get('trigger_id') or message['ts']}",
                  context=history)
