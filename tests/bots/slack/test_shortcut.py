"""Scenario: the message shortcut "Ask heavy about this thread"."""

from __future__ import annotations

import json
from typing import Any

from bots.slack._shortcut import CALLBACK_ID, shortcut_question

from .conftest import Slack
from .fake_slack import TEAM
from .test_mentions import ROOT_TS, thread_history

CHOSEN_TS = "1700000060.000100"  # Carol's "SQLite is simpler & embedded"


async def test_the_thread_becomes_context_and_the_answer_goes_there(slack: Slack) -> None:
    slack.fake.threads[("C0GENERAL", ROOT_TS)] = thread_history()
    resp = await slack.interaction(message_shortcut(thread_ts=ROOT_TS))
    assert resp.status == 200
    await slack.settle()

    fake = slack.fake
    # Answered in that thread: progress card, then the answer.
    posts = fake.called("chat.postMessage", channel="C0GENERAL", thread_ts=ROOT_TS)
    assert len(posts) == 2
    assert "simulated" in fake.called("chat.update", ts=posts[1].ts)[-1].args["text"]
    # ⏳ then ✅ on the chosen message.
    assert fake.called("reactions.add", name="hourglass_flowing_sand", timestamp=CHOSEN_TS)
    assert fake.called("reactions.add", name="white_check_mark", timestamp=CHOSEN_TS)
    # The question is about the chosen message, and the whole thread went along.
    stop = posts[0].args["blocks"][-1]["elements"][0]["value"]  # the card's Stop button
    job = await slack.runner.get_job(json.loads(stop)["job"])
    assert job is not None
    assert "SQLite is simpler & embedded" in job.spec.question
    assert "Should we use Postgres or SQLite?" in (job.spec.context or "")
    assert "so which one?" in (job.spec.context or "")  # later messages too


async def test_a_top_level_message_starts_its_own_thread(slack: Slack) -> None:
    slack.fake.threads[("C0GENERAL", CHOSEN_TS)] = [CHOSEN]
    await slack.interaction(message_shortcut(thread_ts=None))
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage", thread_ts=CHOSEN_TS)) == 2


async def test_one_click_is_one_answer(slack: Slack) -> None:
    slack.fake.threads[("C0GENERAL", CHOSEN_TS)] = [CHOSEN]
    await slack.interaction(message_shortcut(thread_ts=None))
    await slack.interaction(message_shortcut(thread_ts=None))  # the same trigger_id again
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage", thread_ts=CHOSEN_TS)) == 2


async def test_where_heavy_cannot_read_it_says_so_and_asks_nothing(slack: Slack) -> None:
    slack.fake.fail_next("conversations.replies", "not_in_channel")
    await slack.interaction(message_shortcut(thread_ts=ROOT_TS,
                                             response_url=slack.fake.response_url()))
    await slack.settle()
    [said] = slack.fake.responses
    assert said["response_type"] == "ephemeral" and "/invite @heavy" in said["text"]
    assert not slack.fake.called("chat.postMessage")


def test_the_question_quotes_the_message_within_bounds() -> None:
    question = shortcut_question("word " * 1000)
    assert question.count("word") < 400 and "…" in question


CHOSEN = {"type": "message", "user": "U0CAROL", "ts": CHOSEN_TS,
          "text": "SQLite is simpler &amp; embedded"}


def message_shortcut(*, thread_ts: str | None,
                     response_url: str = "https://hooks.slack.com/app/T0TEAM/1/abc",
                     ) -> dict[str, Any]:
    message: dict[str, Any] = dict(CHOSEN)
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": "1700000800.000100",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": "U0ALICE", "username": "alice", "team_id": TEAM, "name": "alice"},
        "channel": {"id": "C0GENERAL", "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": CALLBACK_ID,
        "trigger_id": "13345224609.738474920.9999",
        "response_url": response_url,
        "message_ts": CHOSEN_TS,
        "message": message,
    }
