"""Scenario: the assistant split view through the real Bolt app (AsyncAssistant)."""

from __future__ import annotations

from typing import Any

import pytest

from bots.slack.native._assistant import (
    GREETING,
    LOADING,
    status_text,
    suggested_prompts,
    thread_title,
)
from heavy_engine.settings import Scope

from ..conftest import MakeSlack, Slack, simulated_config
from ..fake_slack import BOT_USER, TEAM
from ..test_mentions import mention

DM = "D0ALICE"
THREAD = "1700000500.000100"
QUESTION_TS = "1700000510.000200"


async def test_thread_started_greets_with_prompts_title_and_remembers_the_channel(
    slack: Slack,
) -> None:
    resp = await slack.event(thread_started(context_channel="C0DESIGN"))
    assert resp.status == 200
    await slack.settle()

    fake = slack.fake
    [greeting] = fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert greeting.args["text"] == GREETING
    [prompts] = fake.called("assistant.threads.setSuggestedPrompts", channel_id=DM,
                            thread_ts=THREAD)
    messages = [p["message"] for p in prompts.args["prompts"]]
    assert len(messages) == 4 and "<#C0DESIGN>" in messages[0]  # the channel comes first
    assert fake.called("assistant.threads.setTitle", channel_id=DM, thread_ts=THREAD)
    stored = await slack.adapter.assistant_threads.find(channel_id=DM, thread_ts=THREAD)
    assert stored is not None and stored["channel_id"] == "C0DESIGN"


async def test_a_question_gets_a_status_within_a_second_then_the_answer(slack: Slack) -> None:
    await slack.event(thread_started(context_channel=None))
    await slack.settle()
    slack.fake.calls.clear()

    await slack.event(user_message("Compare SQLite and PostgreSQL for a chat bot."))
    fake = slack.fake
    status = await fake.wait_for(lambda: fake.called("assistant.threads.setStatus"),
                                 within=1.0)
    assert status[0].args["status"] == status_text(2)  # simulated_config: 2 agents
    assert status[0].args["loading_messages"] == LOADING
    await slack.settle()
    posts = fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert len(posts) == 2  # the progress card, then the answer
    final = fake.called("chat.update", ts=posts[1].ts)[-1].args
    assert "simulated" in final["text"]
    # The thread is named after the question; no ⏳ reaction in the split view.
    [title] = fake.called("assistant.threads.setTitle")
    assert title.args["title"] == thread_title("Compare SQLite and PostgreSQL for a chat bot.")
    assert not fake.called("reactions.add")


async def test_the_channel_the_user_looks_at_decides_the_settings(slack: Slack) -> None:
    await slack.settings.set(Scope("slack", TEAM, "C0DESIGN"), {"agents": 3}, actor="test")
    await slack.event(thread_started(context_channel="C0GENERAL"))
    await slack.event(context_changed("C0DESIGN"))
    await slack.settle()
    await slack.event(user_message("What changed in HTTP/3?"))
    await slack.settle()

    [status] = slack.fake.called("assistant.threads.setStatus")
    assert status.args["status"] == status_text(3)
    greeting, card, _answer = slack.fake.called("chat.postMessage", channel=DM,
                                                thread_ts=THREAD)
    assert greeting.args["text"] == GREETING
    # The run used that channel's three agents; the card's last state counts them.
    final_card = slack.fake.called("chat.update", ts=card.ts)[-1].args
    assert "3/3 agents finished" in final_card["text"]


async def test_a_refused_question_clears_the_status_and_says_why(
    make_slack: MakeSlack,
) -> None:
    slack = await make_slack(simulated_config(max_question_chars=20))
    await slack.event(user_message("A question far longer than twenty characters?"))
    await slack.settle()
    statuses = [c.args["status"] for c in slack.fake.called("assistant.threads.setStatus")]
    assert statuses[-1] == ""  # cleared: no run is coming
    [note] = slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert note.args["text"].startswith(":information_source: The question is 45 characters")
    assert not slack.fake.called("chat.startStream")


async def test_a_queued_question_in_the_split_view_shows_its_place(
    make_slack: MakeSlack,
) -> None:
    # The pipeline's one submit path: a queued job gets the same queued note as a mention.
    slack = await make_slack(simulated_config(limits={"max_concurrent_jobs": 1}))
    await slack.event(mention())
    await slack.event(user_message("Compare SQLite and PostgreSQL for a chat bot."))
    await slack.settle()
    [note, *_] = slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert note.args["text"] == ":hourglass: Queued: this question is next."
    assert any(c.args["status"].startswith("Queued")
               for c in slack.fake.called("assistant.threads.setStatus"))


async def test_with_streaming_the_split_view_shows_the_agents_as_tasks(
    make_slack: MakeSlack,
) -> None:
    slack = await make_slack(streaming=True)
    await slack.event(user_message("Compare SQLite and PostgreSQL for a chat bot."))
    await slack.settle()
    [start] = slack.fake.called("chat.startStream")
    assert start.args["channel"] == DM and start.args["thread_ts"] == THREAD
    assert start.args["task_display_mode"] == "plan"
    [stream] = slack.fake.streams.values()
    tasks = {c["id"] for c in stream["chunks"] if c["type"] == "task_update"}
    assert tasks == {"agent-1", "agent-2"} and stream["stopped"] and stream["text"]
    # No progress card: one small message with Stop beside the stream, ended without it.
    [stop] = slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert "heavy_stop" in str(stop.args["blocks"])
    assert "Finished" in slack.fake.called("chat.update", ts=stop.ts)[-1].args["text"]


async def test_a_failing_status_never_loses_the_answer(slack: Slack) -> None:
    slack.fake.fail_next("assistant.threads.setStatus", "internal_error", status=500,
                         times=5)
    await slack.event(user_message("Is Rust faster than Go?"))
    await slack.settle()
    posts = slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)
    assert len(posts) == 2
    assert "simulated" in slack.fake.called("chat.update", ts=posts[1].ts)[-1].args["text"]


async def test_a_retried_question_is_answered_once(slack: Slack) -> None:
    await slack.event(user_message("Once?"))
    await slack.event(user_message("Once?"), headers={"X-Slack-Retry-Num": "1",
                                                      "X-Slack-Retry-Reason": "timeout"})
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)) == 2


async def test_a_top_level_dm_still_goes_the_usual_way(slack: Slack) -> None:
    """Messages outside an assistant thread are left to the DM listener (one answer)."""
    await slack.event(_envelope({"type": "message", "channel": DM, "channel_type": "im",
                                 "user": "U0ALICE", "text": "hello there", "ts": THREAD,
                                 "event_ts": THREAD}, "Ev0TOPDM"))
    await slack.settle()
    assert not slack.fake.called("assistant.threads.setStatus")
    assert len(slack.fake.called("chat.postMessage", channel=DM, thread_ts=THREAD)) == 2


@pytest.mark.parametrize(("channel", "count", "first"), [
    (None, 3, "Compare options"),  # no channel in the context: the three heavy questions
    ("C0X", 4, "Research this channel's topic"),  # the channel first, still at most four
])
def test_suggested_prompts(channel: str | None, count: int, first: str) -> None:
    prompts = suggested_prompts(channel)
    assert len(prompts) == count and prompts[0]["title"] == first


@pytest.mark.parametrize(("agents", "text"), [
    (1, "1 agent researching…"),  # singular
    (4, "4 agents researching…"),
])
def test_status_text(agents: int, text: str) -> None:
    assert status_text(agents) == text


@pytest.mark.parametrize(("question", "title"), [
    ("Short?", "Short?"),  # kept as is
    ("  spaced \n out  ", "spaced out"),  # whitespace folded
    ("x" * 80, "x" * 59 + "…"),  # cut to 60 with an ellipsis
])
def test_thread_title(question: str, title: str) -> None:
    assert thread_title(question) == title


# -- payloads (shapes from Slack's Events API reference) ------------------------------------


def thread_started(*, context_channel: str | None) -> dict[str, Any]:
    context: dict[str, Any] = {"enterprise_id": None, "team_id": TEAM}
    if context_channel:
        context["channel_id"] = context_channel
    return _envelope({
        "type": "assistant_thread_started",
        "assistant_thread": {"user_id": "U0ALICE", "context": context, "channel_id": DM,
                             "thread_ts": THREAD},
        "event_ts": "1700000500.000200",
    }, "Ev0STARTED")


def context_changed(channel: str) -> dict[str, Any]:
    return _envelope({
        "type": "assistant_thread_context_changed",
        "assistant_thread": {"user_id": "U0ALICE", "channel_id": DM, "thread_ts": THREAD,
                             "context": {"channel_id": channel, "team_id": TEAM,
                                         "enterprise_id": None}},
        "event_ts": "1700000505.000300",
    }, "Ev0MOVED")


def user_message(text: str, *, ts: str = QUESTION_TS) -> dict[str, Any]:
    return _envelope({
        "type": "message", "user": "U0ALICE", "text": text, "ts": ts, "team": TEAM,
        "channel": DM, "channel_type": "im", "thread_ts": THREAD, "parent_user_id": BOT_USER,
        "event_ts": ts,
    }, f"Ev0ASK{ts[-4:]}")


def _envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token", "team_id": TEAM, "context_team_id": TEAM,
        "api_app_id": "A0HEAVY", "event": event, "type": "event_callback",
        "event_id": event_id, "event_time": 1700000600,
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER,
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }
