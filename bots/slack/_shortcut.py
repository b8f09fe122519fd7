"""Message shortcut "Ask heavy about this thread" (callback_id `ask_heavy_thread`): the chosen
message and its thread become the context of a question, and the answer goes in that thread."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from heavy_engine.delivery import Question

from ._bot import SlackBot
from ._context import format_thread
from ._incoming import slack_to_plain
from ._intake import InThread, slack_question

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
    app.shortcut(CALLBACK_ID)(bot.acked(
        lambda body, payload, context: _ask(bot, body, context)))


class _Shortcut(InThread):
    """The thread is read once the asker may ask; nothing to read means heavy is not in the
    conversation, which only the asker learns (`respond`)."""

    def __init__(self, bot: SlackBot, question: Question, respond: AsyncRespond,
                 message: dict[str, Any], bot_user: str) -> None:
        super().__init__(bot, question)
        self.respond, self.message, self.bot_user = respond, message, bot_user

    async def prepare(self, question: Question) -> Question | None:
        messages = await self.bot.history.messages(self.channel, str(question.thread))
        if not messages:
            # Slack answers with at least the thread's first message: nothing means heavy may
            # not read here (not a member, a DM between people), so it could not answer here.
            await self.respond(text=_NOT_A_MEMBER, response_type="ephemeral")
            return None
        if not any(m.get("ts") == self.message["ts"] for m in messages):
            messages = [*messages, self.message]
        history = format_thread(messages, bot_user_id=self.bot_user, before_ts=_AFTER_ALL)
        return await super().prepare(replace(question, context=history))


async def _ask(bot: SlackBot, body: dict[str, Any], context: AsyncBoltContext) -> None:
    respond = context.respond
    assert respond is not None  # a message shortcut always carries a response_url
    message = body.get("message") or {}
    channel, user, team = context.channel_id or "", context.user_id or "", context.team_id or ""
    if not channel or not user or not message.get("ts"):
        return
    bot_user = context.bot_user_id or ""
    question = slack_question(
        team=team, channel=channel, user=user, thread_ts=str(message.get("thread_ts") or message["ts"]),
        text=shortcut_question(slack_to_plain(message.get("text") or "", bot_user)),
        trigger_ts=str(message["ts"]),
        dedup_key=f"shortcut:{body.get('trigger_id') or message['ts']}")
    await bot.ask(question, _Shortcut(bot, question, respond, message, bot_user))
