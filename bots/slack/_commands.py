"""Slash commands: `/heavy <question>` and `/heavy-config [show|reset] [workspace]`, plus the
settings modal's submission. Each acks first; the rest runs after the 3-second window."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError

from heavy_engine.delivery import Question, shorten
from heavy_engine.settings import Scope, SettingsConflict, SettingsRefused

from ._bot import SlackBot, reference
from ._intake import PLATFORM, InThread, slack_question
from ._markdown import safe_mrkdwn
from ._modal import (
    CALLBACK_ID,
    ModalTarget,
    block_for,
    changes,
    config_modal,
    show_text,
    submitted_values,
)
from ._render import failure_text, shorten_safe
from ._reply import SlackReply
from ._slackerr import api_error
from .native import republish_home

log = logging.getLogger("heavy.slack")

ASK_COMMAND = "/heavy"
CONFIG_COMMAND = "/heavy-config"
CONFIG_USAGE = ("Usage: `/heavy-config` (edit this channel), `/heavy-config workspace` (edit the "
                "workspace default), `/heavy-config show [workspace]`, "
                "`/heavy-config reset [workspace]`.")
_NOT_IN_CHANNEL = ("I can't post in this channel yet. Invite me with `/invite @heavy` and "
                   "try again.")
_NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def register(app: AsyncApp, bot: SlackBot) -> None:
    app.command(ASK_COMMAND)(bot.acked(
        lambda body, command, context: _ask(bot, command, context)))
    app.command(CONFIG_COMMAND)(bot.acked(
        lambda body, command, context: _config(bot, command, context)))

    @app.view(CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                        context: AsyncBoltContext) -> None:
        # The modal only closes on our ack, so the save happens first: a refused value is
        # shown under its field instead of being lost. The confirmation waits for the ack.
        errors, confirmation = await _save(bot, view, context)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if confirmation is not None:
            await bot.track(bot.tell(*confirmation))
            target = ModalTarget.load(view.get("private_metadata") or "{}")
            if target is not None and not target.channel:  # App Home shows the workspace default: show the new one
                await bot.track(republish_home(bot, target.team, confirmation[1],
                                               target.origin))


def _respond(context: AsyncBoltContext) -> AsyncRespond:
    assert context.respond is not None  # commands always carry a response_url
    return context.respond


class _Command(InThread):
    """`/heavy`: before its thread exists, only the asker hears back (`respond`, ephemeral);
    the thread is a public "asked:" message posted once the checks passed."""

    def __init__(self, bot: SlackBot, question: Question, respond: AsyncRespond) -> None:
        super().__init__(bot, question)
        self.respond = respond

    async def refuse(self, sentence: str) -> None:
        if self.thread_ts is not None:
            await super().refuse(sentence)
            return
        await self.respond(text=f":information_source: {safe_mrkdwn(sentence)}",
                           response_type="ephemeral")

    async def usage(self) -> None:
        await self.respond(text="Ask a question after the command: `/heavy What changed in "
                                "...?`", response_type="ephemeral")

    async def help(self, text: str) -> None:
        # Slack renders Markdown itself in a `markdown` block; `text` is the notification.
        await self.respond(text=text, blocks=[{"type": "markdown", "text": text}],
                           response_type="ephemeral")

    async def prepare(self, question: Question) -> Question | None:
        channel, user = self.channel, self.user
        try:
            root = await self.bot.client.chat_postMessage(
                channel=channel, text=f"<@{user}> asked: {shorten_safe(question.text, 2900)}")
        except SlackApiError as err:
            if api_error(err) in _NOT_A_MEMBER:
                log.info("/heavy could not post in %s: %s", channel, api_error(err))
                await self.respond(text=_NOT_IN_CHANNEL, response_type="ephemeral")
                return None
            ref = reference()
            log.warning("/heavy could not post in %s: %s (ref %s)", channel, api_error(err), ref)
            await self.respond(text=failure_text("I could not start a thread for this; please "
                                                 "try again.", ref), response_type="ephemeral")
            return None
        self.thread_ts = self.trigger_ts = ts = str(root["ts"])
        question = replace(question, thread=ts, dedup_key=question.dedup_key or f"cmd:{ts}",
                           reply=replace(SlackReply.of(question), thread_ts=ts, trigger_ts=ts))
        return await super().prepare(question)


async def _ask(bot: SlackBot, command: dict[str, Any], context: AsyncBoltContext) -> None:
    channel, user = context.channel_id or "", context.user_id or ""
    # The thread is the "asked:" message, posted once the checks passed (`_Command.prepare`).
    question = replace(slack_question(
        team=context.team_id or "", channel=channel, user=user,
        text=command.get("text") or "", thread_ts="", trigger_ts=None,
        # A slash command is never retried by Slack, so the trigger id is only a safety net.
        dedup_key=f"cmd:{command['trigger_id']}" if command.get("trigger_id") else None,
        help_command=ASK_COMMAND), thread=None)
    await bot.ask(question, _Command(bot, question, _respond(context)))


def _parse_config_args(text: str) -> tuple[str, bool] | None:
    """(verb, workspace?) from `/heavy-config` text, or None when it makes no sense."""
    words = text.lower().split()
    workspace = "workspace" in words
    rest = [w for w in words if w != "workspace"]
    if not rest:
        return "edit", workspace
    if len(rest) == 1 and rest[0] in ("show", "reset", "edit", "help"):
        return rest[0], workspace
    return None


async def _config(bot: SlackBot, command: dict[str, Any], context: AsyncBoltContext) -> None:
    respond = _respond(context)
    parsed = _parse_config_args(command.get("text") or "")
    if parsed is None or parsed[0] == "help":
        await respond(text=CONFIG_USAGE, response_type="ephemeral")
        return
    verb, workspace = parsed
    team, channel, user = context.team_id or "", context.channel_id or "", context.user_id or ""
    scope = Scope(PLATFORM, team, "" if workspace else channel)
    where = "the workspace default" if workspace else f"<#{channel}>"
    settings = bot.services.settings
    if verb == "show":  # reading is allowed to everyone: it only shows what answers use
        resolved = await settings.resolve(PLATFORM, team, scope.channel or None)
        await respond(text=show_text(resolved.values, resolved.sources, where),
                      response_type="ephemeral")
        return
    if not await bot.admins.can_edit(user, scope):
        await respond(text="Only workspace admins and owners (or people the operator lists) "
                           "can change heavy's settings.", response_type="ephemeral")
        return
    if verb == "reset":
        await settings.reset(scope, actor=f"slack:{user}")
        await respond(text=f"Settings for {where} are back to the defaults.",
                      response_type="ephemeral")
        return
    resolved = await settings.resolve(PLATFORM, team, scope.channel or None)
    stored = await settings.get(scope)
    target = ModalTarget(team, scope.channel, stored.version, channel)
    label = ("Editing the workspace default." if workspace
             else f"Editing <#{channel}>. `/heavy-config workspace` edits the default.")
    view = config_modal(resolved.config, resolved.values, target, settings.choosable_tools,
                        label)
    await bot.client.views_open(trigger_id=command["trigger_id"], view=view)


async def _save(bot: SlackBot, view: dict[str, Any], context: AsyncBoltContext
                ) -> tuple[dict[str, str], tuple[str, str, str] | None]:
    """Store the modal's changes: (field errors when something was refused, else the
    (channel, user, text) of the confirmation to send once the modal is closed)."""
    user = context.user_id or ""
    target = ModalTarget.load(view.get("private_metadata"))
    if target is None or target.team != context.team_id:  # forged, or made for another workspace
        log.info("slack: a settings modal with unreadable metadata from %s refused", user)
        return {"model": "This form is out of date: close it and run /heavy-config again."}, None
    scope = Scope(PLATFORM, target.team, target.channel)
    if not await bot.admins.can_edit(user, scope):  # checked again: the modal is client-side
        return {"model": "You are not allowed to change these settings."}, None
    settings = bot.services.settings
    resolved = await settings.resolve(PLATFORM, target.team, target.channel or None)
    try:
        submitted = submitted_values((view.get("state") or {}).get("values") or {})
    except (AttributeError, TypeError, KeyError, ValueError):  # forged: not what Slack sends
        log.info("slack: a settings modal with malformed values from %s refused", user)
        return {"model": "This form could not be read: close it and run /heavy-config "
                         "again."}, None
    to_set, to_unset = changes(resolved.values, submitted)
    try:  # one write: a refusal or a conflict leaves nothing half saved
        await settings.update(scope, to_set, to_unset, actor=f"slack:{user}",
                              expected_version=target.version)
    except SettingsRefused as err:
        return {block_for(err.key): shorten(err.reason, 150)}, None
    except SettingsConflict:
        return {"model": "Someone else changed these settings meanwhile: close this and run "
                         "/heavy-config again."}, None
    where = "the workspace default" if not target.channel else f"<#{target.channel}>"
    summary = ", ".join([*to_set, *(f"{k} (reset)" for k in to_unset)]) or "nothing changed"
    return {}, (target.origin, user, f"Saved heavy's settings for {where}: {safe_mrkdwn(summary)}.")
