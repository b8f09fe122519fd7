"""Scenario: the feedback buttons under a final answer, a press stored with the job, counted
in the metrics and shown in App Home; a press for another channel's job is ignored."""

from __future__ import annotations

from typing import Any

from bots.slack._markdown import FEEDBACK_ACTION, parse_feedback
from heavy_engine.jobs import JobHistory

from .conftest import MakeSlack, Slack
from .fake_slack import BOT_USER, TEAM
from .native.test_home import _home, _texts
from .test_mentions import MENTION_TS, mention


async def _answered(make_slack: MakeSlack) -> tuple[Slack, str, dict[str, Any]]:
    slack = await make_slack(durable=True)
    await slack.event(mention())
    await slack.settle()
    _card, answer = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    final = [answer, *slack.fake.called("chat.update", ts=answer.ts)][-1].args
    block = final["blocks"][-1]
    assert answer.ts is not None
    return slack, answer.ts, block


def _metric(slack: Slack, value: str) -> float:
    got = slack.runner.metrics.registry.get_sample_value(
        "heavy_feedback_total", {"platform": "slack", "value": value})
    return got or 0.0


async def test_a_thumbs_up_is_stored_counted_and_shown_in_app_home(
    make_slack: MakeSlack,
) -> None:
    slack, answer_ts, block = await _answered(make_slack)
    # The final answer ends with Slack's feedback buttons in a context_actions block.
    assert block["type"] == "context_actions"
    [buttons] = block["elements"]
    assert buttons["type"] == "feedback_buttons" and buttons["action_id"] == FEEDBACK_ACTION
    parsed = parse_feedback(buttons["positive_button"]["value"])
    assert parsed is not None
    value, job_id = parsed
    assert value == "good"
    assert parse_feedback(buttons["negative_button"]["value"]) == ("bad", job_id)

    response = await slack.interaction(feedback_click(buttons["positive_button"]["value"],
                                                      answer_ts, "U0BOB"))
    assert response.status == 200
    await slack.settle()
    [past] = await JobHistory(slack.settings.db, slack.adapter.services.config).recent(
        "slack", TEAM, "U0ALICE")
    assert past.id == job_id and past.feedback == "good"
    assert _metric(slack, "good") == 1.0 and _metric(slack, "bad") == 0.0
    [thanks] = slack.fake.called("chat.postEphemeral", user="U0BOB")
    assert "Thanks" in thanks.args["text"] and thanks.args["thread_ts"] == MENTION_TS
    # Changing one's mind: the latest rating is kept, both presses are counted.
    await slack.interaction(feedback_click(buttons["negative_button"]["value"], answer_ts,
                                           "U0ALICE"))
    await slack.settle()
    view = await _home(slack, "U0ALICE")
    assert "rated :-1:" in _texts(view)
    assert _metric(slack, "bad") == 1.0


async def test_a_press_naming_a_job_of_another_channel_is_ignored(
    make_slack: MakeSlack,
) -> None:
    slack, answer_ts, block = await _answered(make_slack)
    value = block["elements"][0]["positive_button"]["value"]
    # The same value, sent from a channel the job was never in (a forged or copied value).
    await slack.interaction(feedback_click(value, answer_ts, "U0MALLORY", channel="C0OTHER"))
    # Nonsense values are ignored too.
    await slack.interaction(feedback_click("great:../../etc", answer_ts, "U0MALLORY"))
    await slack.settle()
    [past] = await JobHistory(slack.settings.db, slack.adapter.services.config).recent(
        "slack", TEAM, "U0ALICE")
    assert past.feedback is None
    assert _metric(slack, "good") == 0.0
    assert not slack.fake.called("chat.postEphemeral", user="U0MALLORY")


# -- payloads (as Slack sends them) ------------------------------------------------------------


def feedback_click(value: str, message_ts: str, user: str, *,
                   channel: str = "C0GENERAL") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0HEAVY",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": False, "thread_ts": MENTION_TS},
        "trigger_id": "1234567890.1234567890.feedback",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": {"bot_id": "B0BOT", "type": "message", "text": "The answer",
                    "user": BOT_USER, "ts": message_ts, "thread_ts": MENTION_TS,
                    "app_id": "A0HEAVY", "blocks": []},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/feedback",
        "actions": [{"action_id": FEEDBACK_ACTION, "block_id": "heavy_feedback",
                     "type": "feedback_buttons", "value": value,
                     "action_ts": "1700000101.000300"}],
    }
