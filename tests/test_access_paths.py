"""Who may ask holds on every way in (issue 27 §5): one table of entry points, each tried by a
user the operator blocked (`block_users`) and by one over the daily per-user token budget.
Each gets a refusal and costs 0 model calls (the fake LLM's recorded requests).

Every row runs the real adapter (Bolt over signed HTTP, discord.py over a fake gateway, the
aiohttp service with the `openai` and `mcp` clients) against the fake LLM; over HTTP the asker
is a named token (`HEAVY_API_TOKENS_FILE`), `api:ci`. The restriction is the operator's config (config.yaml), the
one level every path shares, DMs included (a workspace's settings do not reach a DM). A row on
an answer's button first gets that answer unrestricted, then the operator's config changes (as
after an edit and a restart; `SettingsStore.config` is what every resolve reads) and the asker
presses it.

Not in the table: Slack's App Home has one button, "Edit" (the settings modal): it submits no
job. The feedback buttons and Stop submit none either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import openai
import pytest
import pytest_asyncio
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client

from heavy_engine import HeavyConfig
from heavy_engine.core._events import RunResult
from heavy_engine.core._types import Usage
from heavy_engine.db import Database
from heavy_engine.jobs import DurableRunner, Job, JobSpec
from heavy_engine.jobs._access import BLOCKED
from heavy_engine.service import NamedTokens
from heavy_engine.service._callers import parse_named_tokens
from heavy_engine.testing import FakeLLM, fake_config
from tests.bots.discord.conftest import Stack, open_stack, reset_stack
from tests.bots.discord.fake_discord import BOT_ID, CHANNEL_ID, bot_user, message
from tests.bots.discord.helpers import ALICE as D_ALICE
from tests.bots.discord.helpers import slash_heavy
from tests.bots.discord.test_conversations import _answered_in
from tests.bots.discord.test_conversations import _buttons as d_buttons
from tests.bots.discord.test_conversations import _press as d_press
from tests.bots.discord.test_mentions import DM_CHANNEL, said
from tests.bots.slack.conftest import TOKEN, MakeSlack, Slack, fake_slack, make_slack
from tests.bots.slack.native.test_assistant import DM as ASSISTANT_DM
from tests.bots.slack.native.test_assistant import user_message
from tests.bots.slack.test_commands import heavy_command
from tests.bots.slack.test_conversations import _answers as s_answers
from tests.bots.slack.test_conversations import _buttons as s_buttons
from tests.bots.slack.test_conversations import _press as s_press
from tests.bots.slack.test_mentions import MENTION_TS, mention, message_event
from tests.bots.slack.test_shortcut import CHOSEN, CHOSEN_TS, message_shortcut
from tests.jobs.conftest import MakeClient, config, fake, make_client, make_runner

__all__ = ["config", "fake", "fake_slack", "make_client", "make_runner", "make_slack"]

OVER_BUDGET = "daily budget"  # the budget refusal says "You have used your daily budget..."
CASES = ("blocked", "over_budget")


def restricted(config: HeavyConfig, case: str, who: str) -> HeavyConfig:
    """The operator's config with `who` (`platform:user`) blocked, or a 1-token daily budget."""
    if case == "blocked":
        return config.with_overrides({"access": {"block_users": [who]}})
    return config.with_overrides({"limits": {"daily_tokens_per_user": 1}})


def refusal_for(case: str) -> str:
    return BLOCKED if case == "blocked" else OVER_BUDGET


async def spend(runner: DurableRunner, platform: str, user: str, workspace: str = "") -> None:
    """A finished job of `user` today that used 100 tokens (asked before the budget applied)."""
    config = runner.config
    spec = JobSpec(platform=platform, workspace=workspace, channel="earlier", user=user,
                   question="An earlier question")
    result = RunResult(request_id="earlier", question=spec.question, answer="An answer.",
                       usage=Usage(prompt_tokens=60, completion_tokens=40))
    await runner.store.insert(Job(id=uuid.uuid4().hex, spec=spec, config=config, status="done",
                                  created_at=datetime.now(UTC), result=result))


@dataclass(frozen=True)
class WayIn:
    """One way in: how to ask (or press), given the platform's harness."""

    name: str
    follow_up: bool = False  # a button on an earlier answer: that answer comes first


# -- Slack -------------------------------------------------------------------------------------

SLACK_USER = "U0ALICE"


async def _slack_ask_first(slack: Slack) -> str:
    """An unrestricted mention, answered; its job id (what its buttons carry)."""
    await slack.event(mention())
    await slack.settle()
    return s_buttons(s_answers(slack, MENTION_TS)[-1])["heavy_regenerate"]


SlackDo = Callable[[Slack, str | None], Awaitable[Any]]
SLACK: dict[str, SlackDo] = {
    "mention": lambda s, _: s.event(mention()),
    "/heavy": lambda s, _: s.command(heavy_command(s.fake, "Why is the sky blue?")),
    "dm": lambda s, _: s.event(message_event("How do tides work?", channel="D0DM",
                                             channel_type="im")),
    "split view": lambda s, _: s.event(user_message("Compare SQLite and PostgreSQL.")),
    "shortcut": lambda s, _: s.interaction(message_shortcut(
        thread_ts=None, response_url=s.fake.response_url())),
    "Regenerate": lambda s, job: s.interaction(s_press("heavy_regenerate", str(job), SLACK_USER)),
    "Go deeper": lambda s, job: s.interaction(s_press("heavy_deeper", str(job), SLACK_USER)),
}
SLACK_PATHS = [WayIn(n, follow_up=n in ("Regenerate", "Go deeper")) for n in SLACK]


def _said_on_slack(slack: Slack) -> list[str]:
    """What the asker was told: ephemerals, `response_url` replies and DM/thread messages."""
    fake = slack.fake
    texts = [c.args.get("text", "") for c in fake.called("chat.postEphemeral", user=SLACK_USER)]
    texts += [r.get("text", "") for r in fake.responses]
    texts += [c.args.get("text", "") for c in fake.called("chat.postMessage")
              if str(c.args.get("channel", "")).startswith("D")]
    return texts


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", SLACK_PATHS, ids=lambda p: p.name)
async def test_slack(make_slack: MakeSlack, fake_llm: FakeLLM, path: WayIn, case: str) -> None:
    config = fake_config(fake_llm.base_url, agents=2)
    slack = await make_slack(config)
    slack.fake.files_token = TOKEN
    slack.fake.threads[("C0GENERAL", CHOSEN_TS)] = [CHOSEN]  # the shortcut's message
    job = await _slack_ask_first(slack) if path.follow_up else None
    await spend(slack.runner, "slack", SLACK_USER)
    slack.settings.config = restricted(config, case, f"slack:{SLACK_USER}")
    calls = len(fake_llm.calls())
    slack.fake.calls.clear()
    slack.fake.responses.clear()

    await SLACK[path.name](slack, job)
    await slack.settle()

    said = _said_on_slack(slack)
    assert any(refusal_for(case) in text for text in said), said
    assert len(fake_llm.calls()) == calls  # no model call
    assert not slack.fake.called("chat.startStream")
    # Refused before anything public, any status or download (the budget too: ask() checks it
    # early, the runner again at submit).
    assert not [c for c in slack.fake.called("chat.postMessage")
                if not str(c.args.get("channel")).startswith("D")]
    assert not [c for c in slack.fake.called("assistant.threads.setStatus")
                if c.args.get("status")]
    assert not slack.fake.called("reactions.add")


async def test_slack_split_view_reads_files_like_a_mention_and_refuses_before_its_status(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=2)
    slack = await make_slack(config)
    slack.fake.files_token = TOKEN
    payload = user_message("What broke last night?")
    payload["event"]["files"] = [slack.fake.share_file("night.log", b"ERROR bank timeout\n")]
    await slack.event(payload)
    await slack.settle()
    assert "ERROR bank timeout" in str(fake_llm.calls("decompose")[-1].body)
    assert len(slack.fake.downloads) == 1

    # Blocked: the same message (a new event) downloads nothing and shows no status.
    slack.settings.config = restricted(config, "blocked", f"slack:{SLACK_USER}")
    slack.fake.calls.clear()
    calls = len(fake_llm.calls())
    payload = user_message("And now?", ts="1700000520.000300")
    payload["event"]["files"] = [slack.fake.share_file("more.log", b"ERROR again\n")]
    await slack.event(payload)
    await slack.settle()
    statuses = [c.args["status"] for c in slack.fake.called("assistant.threads.setStatus")]
    assert all(status == "" for status in statuses)  # cleared at most; never "researching"
    [note] = slack.fake.called("chat.postMessage", channel=ASSISTANT_DM)
    assert BLOCKED in note.args["text"]
    assert len(slack.fake.downloads) == 1 and len(fake_llm.calls()) == calls


# -- Discord -----------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def discord_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path_factory) as opened:
        yield opened


def _reply_chain(stack: Stack) -> dict[str, Any]:
    """A mention replying to heavy's earlier answer (to a question in the channel)."""
    fake = stack.fake
    question = said("Which CI is cheapest for us?", mention=False)
    fake.messages[question["id"]] = question
    answer = message(fake.new_id(), CHANNEL_ID, author=bot_user(), content="GitHub Actions.")
    answer["message_reference"] = {"message_id": question["id"], "channel_id": CHANNEL_ID}
    fake.messages[answer["id"]] = answer
    reply = said(f"<@{BOT_ID}> and if we self-host the runners?")
    reply.update(type=19, referenced_message=answer, message_reference={
        "message_id": answer["id"], "channel_id": CHANNEL_ID})
    return reply


async def _discord_ask_first(stack: Stack) -> tuple[str, str, str]:
    """An unrestricted mention, answered: (thread, answer message id, job id)."""
    msg = said(f"<@{BOT_ID}> Is SQLite enough for 50 users?")
    await stack.fake.user_message(msg)
    thread = msg["id"]
    await _answered_in(stack, thread)
    answer = [c for c in stack.fake.find("POST", rf"/channels/{thread}/messages")
              if d_buttons(c.body)][-1]
    job_id = d_buttons(answer.body)[0]["custom_id"].rsplit(":", 1)[1]
    return thread, str(answer.response["id"]), job_id


def _discord_press(action: str) -> Callable[[Stack, tuple[str, str, str] | None], Any]:
    def press(stack: Stack, first: tuple[str, str, str] | None) -> Any:
        assert first is not None
        thread, answer, job_id = first
        return stack.fake.interact(d_press(stack.fake, thread, answer,
                                           f"heavy:{action}:{job_id}", D_ALICE))
    return press


DiscordDo = Callable[[Stack, tuple[str, str, str] | None], Awaitable[Any]]
DISCORD: dict[str, DiscordDo] = {
    "/heavy": lambda d, _: d.fake.interact(slash_heavy("Why is the sky blue?")),
    "mention": lambda d, _: d.fake.user_message(said(f"<@{BOT_ID}> What is 2+2?")),
    "dm": lambda d, _: d.fake.user_message(said("What is a B-tree?", channel=DM_CHANNEL,
                                                mention=False, guild=None)),
    "reply chain": lambda d, _: d.fake.user_message(_reply_chain(d)),
    "Regenerate": _discord_press("regenerate"),
    "Go deeper": _discord_press("deeper"),
}
DISCORD_PATHS = [WayIn(n, follow_up=n in ("Regenerate", "Go deeper")) for n in DISCORD]


def _said_on_discord(stack: Stack) -> list[str]:
    """Every text heavy sent or edited (replies, interaction responses, follow-ups)."""
    texts = []
    for call in stack.fake.sent_messages():
        body = call.body or {}
        texts.append(str(body.get("content") or (body.get("data") or {}).get("content") or ""))
    return texts


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", DISCORD_PATHS, ids=lambda p: p.name)
async def test_discord(discord_stack: Stack, path: WayIn, case: str) -> None:
    async with reset_stack(discord_stack) as stack:
        first = await _discord_ask_first(stack) if path.follow_up else None
        await spend(stack.runner, "discord", D_ALICE)
        stack.settings.config = restricted(stack.config, case, f"discord:{D_ALICE}")
        try:
            calls = len(stack.llm.calls())
            stack.fake.calls.clear()
            await DISCORD[path.name](stack, first)
            wanted = refusal_for(case)
            said_texts = await stack.fake.wait_for(
                lambda: [t for t in _said_on_discord(stack) if wanted in t] or None)
            assert said_texts
            await stack.drain()
            await asyncio.sleep(0.05)  # a late listener would show up now
            assert len(stack.llm.calls()) == calls  # no model call
            # No thread opened for a refused asker (blocked or over the budget).
            assert not stack.fake.find("POST", r"/channels/\d+/messages/\d+/threads")
        finally:
            stack.settings.config = stack.config


# -- HTTP --------------------------------------------------------------------------------------

API_TOKEN = "ci-token-0123456789abcdef"


@pytest.fixture
def named() -> NamedTokens:
    return parse_named_tokens(f"ci {API_TOKEN}\n", "tokens.txt")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: this table is about the ways in (tests/jobs runs PostgreSQL too)."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}", migrate=True)
    yield database
    await database.close()


async def _ask_api(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{url}/api/ask", json={"question": "Why is the sky blue?"},
                               headers={"Authorization": f"Bearer {API_TOKEN}"})
        body = await resp.json()
    assert resp.status == 429
    return f"{body['reason']}: {body['error']}"


async def _ask_openai(url: str) -> str:
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=API_TOKEN, max_retries=0,
                                  timeout=60) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(
                model="heavy", messages=[{"role": "user", "content": "Why is the sky blue?"}])
    return str(refused.value.code) + ": " + str(refused.value.message)


async def _ask_mcp(url: str) -> str:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with (httpx2.AsyncClient(headers=headers, timeout=60) as http,
                McpClient(streamable_http_client(f"{url}/mcp", http_client=http)) as client):
        result = await client.call_tool("heavy_ask", {"question": "Why is the sky blue?"})
    assert result.is_error
    return " ".join(getattr(part, "text", "") for part in result.content)


HTTP: dict[str, Callable[[str], Awaitable[str]]] = {
    "API": _ask_api, "OpenAI-compatible": _ask_openai, "MCP": _ask_mcp}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("way", list(HTTP))
async def test_http(make_client: MakeClient, named: NamedTokens, config: HeavyConfig,
                    fake: FakeLLM, way: str, case: str) -> None:
    """The named token `ci` is the user: `api:ci` in block_users, or over its budget."""
    client, runner = await make_client(named=named, base=restricted(config, case, "api:ci"))
    await spend(runner, "api", "ci")
    said = await HTTP[way](str(client.make_url("")).rstrip("/"))
    assert refusal_for(case) in said
    if way != "MCP":  # the reason, where the surface carries one
        assert ("not_allowed" if case == "blocked" else "budget") in said
    await asyncio.wait_for(runner.drain(), 5)
    assert fake.requests == []  # no model call
