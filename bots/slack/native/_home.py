"""App Home (`app_home_opened` -> `views.publish`): how to use heavy, the workspace's settings
(admins get an Edit button that opens the settings modal), the user's recent questions with
their status and cost, and what is left of today's budget."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine import HeavyConfig
from heavy_engine.jobs import BudgetLeft, JobHistory, PastJob
from heavy_engine.settings import Scope

from .._bot import SlackBot
from .._intake import PLATFORM
from .._markdown import safe_mrkdwn
from .._modal import ModalTarget, config_modal
from .._slackerr import api_error

log = logging.getLogger("heavy.slack")

EDIT_ACTION = "heavy_home_edit"
RECENT = 8
QUESTION_CHARS = 120
_STATUS_ICONS = {"queued": ":hourglass:", "running": ":hourglass_flowing_sand:",
                 "interrupted": ":hourglass_flowing_sand:", "done": ":white_check_mark:",
                 "failed": ":x:", "cancelled": ":octagonal_sign:"}
HOW_TO = (
    "*Ask heavy a question that deserves research.* It splits the question into "
    "sub-questions, researches each with its own agent and tools, and writes one answer "
    "with sources.\n"
    "• Open heavy from the top bar (split view) and ask there\n"
    "• Mention @heavy in a channel (invite it first: `/invite @heavy`), or DM it\n"
    "• `/heavy <question>` starts a thread with the answer\n"
    "• On any message: *⋮ → Ask heavy about this thread*\n"
    "• `/heavy-config show` lists the settings of a channel"
)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory:
        block["accessory"] = accessory
    return block


def settings_text(config: HeavyConfig) -> str:
    tools = ", ".join(f"`{safe_mrkdwn(t)}`" for t in config.tools) or "none"
    threads = "follow replies" if config.thread_policy == "follow" else "answer when mentioned"
    return (f"*Settings for this workspace*\n"
            f"• Model: `{safe_mrkdwn(config.model)}`\n"
            f"• Agents: {config.agents}\n"
            f"• Tools: {tools}\n"
            f"• Threads: {threads}\n"
            "_Channels can override these; `/heavy-config show` in a channel lists its own._")


_FEEDBACK = {"good": " · rated :+1:", "bad": " · rated :-1:"}


def job_line(job: PastJob) -> str:
    icon = _STATUS_ICONS.get(job.status, ":grey_question:")
    when = int(job.created_at.timestamp())
    date = f"<!date^{when}^{{date_short_pretty}} {{time}}|{job.created_at:%Y-%m-%d %H:%M} UTC>"
    rated = _FEEDBACK.get(job.feedback or "", "")
    return (f"{icon} {safe_mrkdwn(_short(job.question, QUESTION_CHARS))}\n"
            f"      _{job.status} · ${job.cost_usd:.4f} · {job.tokens:,} tokens · {date}_"
            + rated)


def budget_text(left: BudgetLeft, config: HeavyConfig) -> str:
    limits = config.limits
    parts = []
    if left.cost_usd is not None and limits.daily_cost_per_workspace is not None:
        parts.append(f"${left.cost_usd:,.2f} of ${limits.daily_cost_per_workspace:,.2f}")
    if left.tokens is not None and limits.daily_tokens_per_workspace is not None:
        parts.append(f"{left.tokens:,} of {limits.daily_tokens_per_workspace:,} tokens")
    if not parts:
        return "*Today's budget*\nNo daily budget is set for this workspace."
    return ("*Today's budget*\nLeft for this workspace today: " + " and ".join(parts)
            + " (resets at 00:00 UTC).")


def home_view(config: HeavyConfig, jobs: Sequence[PastJob], left: BudgetLeft, *,
              is_admin: bool, edit_value: str) -> dict[str, Any]:
    """The Home tab. `edit_value` rides on the Edit button (shown to admins only)."""
    edit = {"type": "button", "action_id": EDIT_ACTION, "value": edit_value,
            "text": {"type": "plain_text", "text": "Edit"}} if is_admin else None
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "heavy"}},
        _section(HOW_TO),
        {"type": "divider"},
        _section(settings_text(config), edit),
    ]
    if not is_admin:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Only workspace admins and owners (or people the operator lists) can change "
            "these.")}]})
    blocks += [{"type": "divider"}, _section(budget_text(left, config)), {"type": "divider"}]
    if jobs:
        blocks.append(_section(_bounded("*Your recent questions*",
                                        [job_line(j) for j in jobs])))
    else:
        blocks.append(_section("*Your recent questions*\nNone yet. Ask one!"))
    return {"type": "home", "blocks": blocks}


def _bounded(head: str, lines: Sequence[str], limit: int = 3000) -> str:
    """`head` and as many whole lines as fit a section block."""
    text = head
    for line in lines:
        if len(text) + 1 + len(line) > limit:
            break
        text += "\n" + line
    return text


def _edit_value(team: str, channel: str) -> str:
    return json.dumps({"t": team, "o": channel}, separators=(",", ":"))


def _parse_edit_value(raw: str) -> Mapping[str, str] | None:
    try:
        data = json.loads(raw)
        return {"team": str(data["t"]), "origin": str(data["o"])}
    except (ValueError, KeyError, TypeError, RecursionError):  # a forged value
        return None


def register(app: AsyncApp, bot: SlackBot) -> None:
    history = JobHistory(bot.services.settings.db, bot.services.config)

    @app.event("app_home_opened")
    async def opened(body: dict[str, Any], event: dict[str, Any],
                     context: AsyncBoltContext) -> None:
        if event.get("tab") != "home":
            return
        team = context.team_id or ""
        user, channel = event["user"], str(event.get("channel") or "")
        # Bolt's per-request client carries the token of the workspace the event came from.
        await bot.track(bot.guarded(
            _publish(bot, history, team, user, channel, client=context.client),
            channel=None, user=None))

    app.action(EDIT_ACTION)(bot.acked(
        lambda body, action, context: _edit(bot, body, action, context)))


async def republish(bot: SlackBot, team: str, user: str, channel: str) -> None:
    """Publish `user`'s App Home again (its settings changed); failures are logged."""
    history = JobHistory(bot.services.settings.db, bot.services.config)
    try:
        await _publish(bot, history, team, user, channel)
    except SlackApiError as err:
        log.info("re-publishing App Home for %s failed: %s", user, api_error(err))


async def _publish(bot: SlackBot, history: JobHistory, team: str, user: str,
                   channel: str, *, client: AsyncWebClient | None = None) -> None:
    resolved = await bot.services.settings.resolve(PLATFORM, team, None)
    config: HeavyConfig = resolved.config
    is_admin = await bot.admins.can_edit(user, Scope(PLATFORM, team, ""))
    jobs = await history.recent(PLATFORM, team, user, RECENT)
    left = await history.budget_left(config.limits, PLATFORM, team)
    view = home_view(config, jobs, left, is_admin=is_admin,
                     edit_value=_edit_value(team, channel))
    await (client or bot.client).views_publish(user_id=user, view=view)


async def _edit(bot: SlackBot, body: dict[str, Any], action: dict[str, Any],
                context: AsyncBoltContext) -> None:
    user, client = context.user_id or "", context.client
    parsed = _parse_edit_value(action.get("value") or "")
    if parsed is None:
        return
    team = parsed["team"]
    if team != context.team_id:
        log.info("slack: %s pressed Edit for another workspace's settings", user)
        return  # the value is client-side: it may only name the presser's workspace
    scope = Scope(PLATFORM, team, "")
    if not await bot.admins.can_edit(user, scope):  # the button is client-side: check again
        log.info("slack: %s pressed Edit in App Home without the right to", user)
        return
    settings = bot.services.settings
    resolved = await settings.resolve(PLATFORM, team, None)
    stored = await settings.get(scope)
    target = ModalTarget(team, "", stored.version, parsed["origin"])
    view = config_modal(resolved.config, resolved.values, target, settings.choosable_tools,
                        "Editing the workspace default.")
    await (client or bot.client).views_open(trigger_id=body["trigger_id"], view=view)
