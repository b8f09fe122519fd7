"""The assistant split view (Bolt's `AsyncAssistant`): heavy opened from Slack's top bar.

- `assistant_thread_started`: remember the channel the user came from, greet, set a title and
  suggested prompts (heavy questions, and one about that channel when there is one).
- `assistant_thread_context_changed`: the user moved to another channel; remember it.
- a user message in the thread is a question: within a second the thread shows a status
  ("4 agents researching…" with loading messages), then the run's progress and answer.
  The channel the user is looking at decides the settings (model, agents, tools, budgets)
  and the answer goes into the assistant thread.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.attachments import slack_policy
from heavy_engine.delivery import Question
from heavy_engine.jobs import Job

from .._bot import SlackBot
from .._incoming import slack_to_plain
from .._intake import InThread, slack_question, with_files
from .._markdown import safe_mrkdwn
from .._slackerr import api_error
from ._installs import DbThreadContextStore

log = logging.getLogger("heavy.slack")

GREETING = ("Ask me anything worth researching. I split it into sub-questions, research each "
            "with its own agent and tools, and write one answer with sources.")
PROMPTS_TITLE = "Try a heavy question"
LOADING = [
    "Splitting the question into sub-questions…",
    "Agents are searching and reading sources…",
    "Cross-checking what the agents found…",
    "Writing the answer…",
]
_PROMPTS = [
    ("Compare options", "Compare PostgreSQL and SQLite for a small team's internal tool: "
                        "operations, concurrency, backups and cost."),
    ("Check a claim", "Is it true that most startups fail because they run out of cash? "
                      "Check the evidence and the sources behind the usual numbers."),
    ("Plan a decision", "We want to move our CI from Jenkins to GitHub Actions. What are the "
                        "risks, the migration steps, and what do teams regret afterwards?"),
]
TITLE_CHARS = 60


def suggested_prompts(channel: str | None) -> list[dict[str, str]]:
    """Up to four prompts; the first about the channel the user came from, if any."""
    prompts = [{"title": t, "message": m} for t, m in _PROMPTS]
    if channel:
        prompts.insert(0, {
            "title": "Research this channel's topic",
            "message": f"Research the main open question being discussed in <#{channel}>: "
                       "the facts, the options and their trade-offs, with sources.",
        })
    return prompts[:4]


def status_text(agents: int | str) -> str:
    if not isinstance(agents, int):  # `auto`: the decomposition decides how many
        return "agents researching…"
    return f"{agents} agent{'s' * (agents != 1)} researching…"


def thread_title(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def build(bot: SlackBot, store: DbThreadContextStore) -> AsyncAssistant:
    assistant = AsyncAssistant(thread_context_store=store, logger=log)

    @assistant.thread_started
    async def started(payload: dict[str, Any], client: AsyncWebClient) -> None:
        await bot.track(bot.guarded(_started(store, payload, client), channel=None, user=None))

    @assistant.thread_context_changed
    async def moved(payload: dict[str, Any]) -> None:
        thread = payload["assistant_thread"]
        context = dict(thread.get("context") or {})
        if context.get("channel_id"):
            await store.save(channel_id=thread["channel_id"], thread_ts=thread["thread_ts"],
                             context=context)

    @assistant.user_message
    async def asked(body: dict[str, Any], payload: dict[str, Any], client: AsyncWebClient,
                    context: AsyncBoltContext) -> None:
        await bot.track(bot.guarded(
            _ask(bot, store, body, payload, client, context), channel=payload.get("channel"),
            user=payload.get("user"), thread_ts=payload.get("thread_ts")))

    return assistant


def register(app: AsyncApp, bot: SlackBot, store: DbThreadContextStore) -> None:
    app.assistant(build(bot, store))


async def _started(store: DbThreadContextStore, payload: dict[str, Any],
                   client: AsyncWebClient) -> None:
    thread = payload["assistant_thread"]
    channel, thread_ts = thread["channel_id"], thread["thread_ts"]
    context = dict(thread.get("context") or {})
    if context.get("channel_id"):
        await store.save(channel_id=channel, thread_ts=thread_ts, context=context)
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=GREETING)
        await client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title=PROMPTS_TITLE,
            prompts=suggested_prompts(context.get("channel_id")))
        await client.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts,
                                                title="New question")
    except SlackApiError as err:  # the thread still works without prompts
        log.warning("setting up the assistant thread failed: %s", api_error(err))


async def _set_status(client: AsyncWebClient, channel: str, thread_ts: str, status: str,
                      loading: list[str] | None = None) -> None:
    """Status is decoration: a failure is logged and the question goes on."""
    try:
        await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts,
                                                 status=status, loading_messages=loading)
    except SlackApiError as err:
        log.info("assistant.threads.setStatus failed: %s", api_error(err))


class _Assistant(InThread):
    """The split view: its thread shows a status while heavy works (set once the asker may
    ask), and a refusal is a message in the thread, which only the asker sees anyway."""

    def __init__(self, bot: SlackBot, question: Question, client: AsyncWebClient) -> None:
        super().__init__(bot, question)
        self.client = client

    async def refuse(self, sentence: str) -> None:
        assert self.thread_ts is not None
        await _set_status(self.client, self.channel, self.thread_ts, "")
        try:
            await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts,
                text=f":information_source: {safe_mrkdwn(sentence)}")
        except SlackApiError as err:
            log.warning("telling a refusal in the assistant thread failed: %s", api_error(err))

    async def prepare(self, question: Question) -> Question | None:
        assert self.thread_ts is not None
        config = await self.bot.channel_config(question.workspace, question.channel)
        await _set_status(self.client, self.channel, self.thread_ts,
                          status_text(config.agents), LOADING)
        return question  # the status is the progress: no ⏳ reaction here

    async def asked(self, job: Job) -> None:
        await super().asked(job)
        channel, thread_ts = self.channel, str(self.thread_ts)
        try:
            await self.client.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts,
                                                         title=thread_title(job.spec.question))
        except SlackApiError as err:
            log.info("assistant.threads.setTitle failed: %s", api_error(err))
        if job.position > 0 and job.status == "queued":
            ahead = job.position - 1
            await _set_status(self.client, channel, thread_ts,
                              "Queued: this question is next…" if ahead <= 0 else
                              f"Queued: {ahead} question{'s' * (ahead != 1)} ahead…")


async def _ask(bot: SlackBot, store: DbThreadContextStore, body: dict[str, Any],
               event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    channel, thread_ts, user = event["channel"], event["thread_ts"], event["user"]
    team = context.team_id or ""
    bot_user = context.bot_user_id or ""
    viewed = await store.find(channel_id=channel, thread_ts=thread_ts)

    async def history() -> str | None:
        return await bot.history.context(channel, thread_ts, before_ts=event["ts"],
                                         bot_user_id=bot_user)

    # The settings (and per-channel limits) of the channel the user is looking at apply;
    # the answer goes into this assistant thread (the reply target).
    question = slack_question(
        team=team, channel=channel, user=user, thread_ts=thread_ts, trigger_ts=None,
        text=slack_to_plain(event.get("text") or "", bot_user), dedup_key=body.get("event_id"),
        settings_channel=(viewed.get("channel_id") if viewed is not None else None) or channel,
        context=history, asked_ts=event["ts"])
    token = context.bot_token or client.token
    question = with_files(question, event,
                          slack_policy(token, {"SLACK_API_URL": client.base_url}))
    await bot.ask(question, _Assistant(bot, question, client))
