"""Stop does not trust its button (issue 10, item 6): who asked and where come from the job
record, so a forged button value cannot stop someone else's run or a run of another channel."""

from __future__ import annotations

import json

from heavy_engine.testing import FakeLLM, fake_config

from .conftest import MakeSlack, Slack
from .test_delivery import stop_click
from .test_mentions import MENTION_TS, mention


async def _running(make_slack: MakeSlack, fake_llm: FakeLLM, channel: str) -> tuple[Slack, str]:
    """A slow run asked by U0ALICE in `channel`, and its job id."""
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    fake_llm.latency = 0.3
    await slack.event(mention(channel=channel))
    [card] = await slack.fake.wait_for(
        lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    value = card.args["blocks"][-1]["elements"][0]["value"]
    return slack, json.loads(value)["job"]


def _forged(job_id: str, presser: str, channel: str = "C0GENERAL") -> dict[str, object]:
    """A click whose value names the presser as the requester, pressed in `channel`."""
    click = stop_click(json.dumps({"job": job_id, "user": presser}), "1700000200.000100",
                       presser)
    click["channel"] = {"id": channel, "name": channel.lower()}
    click["container"]["channel_id"] = channel  # type: ignore[index]
    return click


async def test_a_forged_requester_in_the_value_is_ignored(make_slack: MakeSlack,
                                                         fake_llm: FakeLLM) -> None:
    slack, job_id = await _running(make_slack, fake_llm, "C0GENERAL")
    resp = await slack.interaction(_forged(job_id, "U0MALLORY"))
    assert resp.status == 200
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0MALLORY")
    assert "Only <@U0ALICE> or a workspace admin" in note.args["text"]  # from the record
    job = await slack.runner.get_job(job_id)
    assert job is not None and job.status == "done" and job.stopped_by is None


async def test_a_stop_for_a_job_of_another_channel_is_refused(make_slack: MakeSlack,
                                                            fake_llm: FakeLLM) -> None:
    # Mallory is admin here, and the value says she asked: still not a run of this channel.
    slack, job_id = await _running(make_slack, fake_llm, "C0SECRET")
    slack.fake.users["U0MALLORY"] = {"is_admin": False}
    resp = await slack.interaction(_forged(job_id, "U0MALLORY", channel="C0GENERAL"))
    assert resp.status == 200
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0MALLORY")
    assert note.args["channel"] == "C0GENERAL"
    assert "not for a run in this channel" in note.args["text"]
    job = await slack.runner.get_job(job_id)
    assert job is not None and job.status == "done" and job.stopped_by is None


async def test_a_stop_for_an_unknown_job_is_a_polite_no(slack: Slack) -> None:
    for value in ("{}", "not json", json.dumps({"job": "j-" + "9" * 30, "user": "U0MALLORY"}),
                  json.dumps({"job": ["x"], "user": 5})):
        click = stop_click(value, "1700000200.000100", "U0MALLORY")
        resp = await slack.interaction(click)
        assert resp.status == 200
    await slack.settle()
    texts = [n.args["text"] for n in slack.fake.called("chat.postEphemeral", user="U0MALLORY")]
    assert len(texts) == 4
    assert all("not for a run in this channel" in t for t in texts[:2]), texts  # unreadable
    assert all(t == "This run has already finished." for t in texts[2:]), texts  # no such job


async def test_a_deeply_nested_stop_value_is_a_polite_no(slack: Slack) -> None:
    resp = await slack.interaction(stop_click("[" * 50_000, "1700000200.000100", "U0MALLORY"))
    assert resp.status == 200
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0MALLORY")
    assert "not for a run in this channel" in note.args["text"]  # no "(ref ...)" failure


async def test_home_edit_for_another_workspace_opens_nothing(slack: Slack) -> None:
    # An admin here forges the Edit button's value to read another workspace's settings.
    from .native.test_home import edit_click

    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    for value in (json.dumps({"t": "T0OTHER", "o": "D0ADMIN"}), "[" * 50_000):
        resp = await slack.interaction(edit_click("U0ADMIN", value))
        assert resp.status == 200
    await slack.settle()
    assert not slack.fake.called("views.open")
    assert not slack.fake.called("chat.postEphemeral")  # no "something went wrong"
