"""Scenario: App Home (app_home_opened -> views.publish) and its Edit button."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bots.slack._modal import CALLBACK_ID
from bots.slack.native._home import EDIT_ACTION, budget_text, job_line
from heavy_engine.jobs import BudgetLeft, PastJob

from ..conftest import MakeSlack, Slack, simulated_config
from ..fake_slack import BOT_USER, TEAM
from ..test_commands import modal_submission
from ..test_mentions import mention


def _texts(view: dict[str, Any]) -> str:
    out = []
    for block in view["blocks"]:
        out.append((block.get("text") or {}).get("text", ""))
        out += [e.get("text", "") for e in block.get("elements") or []]
    return "\n".join(out)


async def _home(slack: Slack, user: str) -> dict[str, Any]:
    slack.fake.calls.clear()
    await slack.event(home_opened(user))
    await slack.settle()
    [publish] = slack.fake.called("views.publish", user_id=user)
    view: dict[str, Any] = publish.args["view"]
    return view


async def test_home_shows_usage_settings_recent_questions_and_budget(
    make_slack: MakeSlack,
) -> None:
    config = simulated_config(limits={"daily_cost_per_workspace": 5.0})
    slack = await make_slack(config, durable=True)
    await slack.event(mention("<@U0BOT> Compare SQLite and PostgreSQL for a chat bot."))
    await slack.settle()

    view = await _home(slack, "U0ALICE")
    text = _texts(view)
    assert view["type"] == "home"
    assert "Ask heavy about this thread" in text  # how to use it
    assert "Model: `openai/gpt-4o-mini`" in text and "Agents: 2" in text
    assert "Compare SQLite and PostgreSQL" in text and ":white_check_mark:" in text
    assert "$" in text and "tokens" in text  # the question's cost
    assert "of $5.00" in text and "00:00 UTC" in text
    assert not [b for b in view["blocks"] if b.get("accessory")]  # no Edit for Alice


async def test_admin_sees_edit_which_opens_the_workspace_modal(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    view = await _home(slack, "U0ADMIN")
    [button] = [b["accessory"] for b in view["blocks"] if b.get("accessory")]
    assert button["action_id"] == EDIT_ACTION
    assert "None yet" in _texts(view)  # no questions asked

    await slack.interaction(edit_click("U0ADMIN", button["value"]))
    await slack.settle()
    [opened] = slack.fake.called("views.open", trigger_id="13345224609.738474920.8088")
    assert opened.args["view"]["callback_id"] == CALLBACK_ID
    assert json.loads(opened.args["view"]["private_metadata"])["c"] == ""  # the workspace


async def test_saving_the_workspace_settings_republishes_app_home(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    await _home(slack, "U0ADMIN")
    slack.fake.calls.clear()
    resp = await slack.interaction(modal_submission(user="U0ADMIN", agents="5", channel=""))
    assert resp.status == 200
    await slack.settle()
    [publish] = slack.fake.called("views.publish", user_id="U0ADMIN")
    assert "Agents: 5" in _texts(publish.args["view"])  # the new setting, at once
    # A channel's own settings do not change App Home: nothing is published for them.
    slack.fake.calls.clear()
    await slack.interaction(modal_submission(user="U0ADMIN", agents="3", version=1))
    await slack.settle()
    assert not slack.fake.called("views.publish")


async def test_edit_pressed_by_a_non_admin_opens_nothing(slack: Slack) -> None:
    await slack.interaction(edit_click("U0ALICE", json.dumps({"t": TEAM, "o": "D0ALICE"})))
    await slack.settle()
    assert not slack.fake.called("views.open")


async def test_the_messages_tab_publishes_nothing(slack: Slack) -> None:
    await slack.event(home_opened("U0ALICE", tab="messages"))
    await slack.settle()
    assert not slack.fake.called("views.publish")


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("job", "parts"), [
    # a finished question: its icon, cost and tokens
    (PastJob("j1", "What is HTTP/3?", "done", 0.0123, 1500, NOW, "C1", None),
     [":white_check_mark:", "What is HTTP/3?", "$0.0123", "1,500 tokens", "done"]),
    # model or user text can never ping: escaped and broken broadcasts
    (PastJob("j2", "<!channel> @here why?", "failed", 0.0, 0, NOW, "C1", None),
     [":x:", "&lt;!channel&gt;", "@\u2060here"]),
])
def test_job_line(job: PastJob, parts: list[str]) -> None:
    line = job_line(job)
    assert all(p in line for p in parts), line


@pytest.mark.parametrize(("limits", "left", "expected"), [
    ({}, BudgetLeft("workspace", None, None), "No daily budget"),  # unlimited
    ({"daily_cost_per_workspace": 10.0}, BudgetLeft("workspace", None, 2.5),
     "$2.50 of $10.00"),  # cost only
    ({"daily_tokens_per_workspace": 1000, "daily_cost_per_workspace": 1.0},
     BudgetLeft("workspace", 0, 0.0), "0 of 1,000 tokens"),  # both, spent
])
def test_budget_text(limits: dict[str, Any], left: BudgetLeft, expected: str) -> None:
    assert expected in budget_text(left, simulated_config(limits=limits))


# -- payloads ------------------------------------------------------------------------------


def home_opened(user: str, *, tab: str = "home") -> dict[str, Any]:
    return {
        "token": "legacy-verification-token", "team_id": TEAM, "api_app_id": "A0HEAVY",
        "event": {"type": "app_home_opened", "user": user, "channel": "D0ALICE", "tab": tab,
                  "event_ts": "1700000700.000100"},
        "type": "event_callback", "event_id": f"Ev0HOME{user}{tab}", "event_time": 1700000700,
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER,
                            "is_bot": True, "is_enterprise_install": False}],
    }


def edit_click(user: str, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0HEAVY", "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "V0HOME"},
        "trigger_id": "13345224609.738474920.8088",
        "team": {"id": TEAM, "domain": "example"},
        "view": {"id": "V0HOME", "type": "home", "team_id": TEAM},
        "actions": [{"action_id": EDIT_ACTION, "block_id": "b1", "type": "button",
                     "value": value, "action_ts": "1700000710.000100",
                     "text": {"type": "plain_text", "text": "Edit"}}],
    }
