"""Scenario: mentions and DMs through the real Bolt app, answered in the thread."""

from __future__ import annotations

import time
from typing import Any

from .conftest import SECRET, MakeSlack, Slack
from .fake_slack import BOT_USER, TEAM


def _posts(slack: Slack, thread_ts: str) -> list[dict[str, Any]]:
    return [c.args for c in slack.fake.called("chat.postMessage", thread_ts=thread_ts)]


async def test_mention_is_answered_in_its_thread_with_progress_and_footer(slack: Slack) -> None:
    resp = await slack.event(mention())
    assert resp.status == 200
    await slack.settle()

    fake = slack.fake
    assert fake.called("reactions.add", name="hourglass_flowing_sand", timestamp=MENTION_TS)
    card, answer = fake.called("chat.postMessage", thread_ts=MENTION_TS)
    assert [b["type"] for b in card.args["blocks"]][-1] == "actions"  # the Stop button
    # The card's last edit says done and drops the Stop button.
    last_card = fake.called("chat.update", ts=card.ts)[-1].args
    assert last_card["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")
    assert "actions" not in [b["type"] for b in last_card["blocks"]]
    # The answer's final state is the full text with a footer: agents, time, tokens, cost.
    final = fake.called("chat.update", ts=answer.ts)[-1].args
    assert "simulated" in fake.shown(final)
    # the footer, Regenerate / Go deeper, then the feedback buttons
    *_, footer, buttons, feedback = final["blocks"]
    assert footer["type"] == "context" and feedback["type"] == "context_actions"
    assert [e["text"]["text"] for e in buttons["elements"]] == [":repeat: Regenerate",
                                                                 ":mag: Go deeper"]
    assert "2/2 agents" in footer["elements"][0]["text"]
    assert "tokens" in footer["elements"][0]["text"] and "$" in footer["elements"][0]["text"]
    assert fake.called("reactions.remove", name="hourglass_flowing_sand", timestamp=MENTION_TS)
    assert fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)
    # Nothing went to the channel itself.
    assert all(c.args.get("thread_ts") for c in fake.called("chat.postMessage"))


async def test_a_slack_connect_mention_counts_in_the_installing_workspace(slack: Slack) -> None:
    # In a channel shared with another organisation, the envelope's team_id is the sender's
    # workspace; Bolt's context.team_id is the installation's (authorizations[0]), whose
    # settings, limits and history the question belongs to.
    payload = mention(event_id="Ev0SHARED01")
    payload.update(team_id="T0OTHER", is_ext_shared_channel=True)
    payload["event"]["team"] = "T0OTHER"
    await slack.event(payload)
    await slack.settle()
    assert len(_posts(slack, MENTION_TS)) == 2  # the card and the answer
    assert await slack.runner.answered_in("slack", TEAM, "C0GENERAL", MENTION_TS)
    assert not await slack.runner.answered_in("slack", "T0OTHER", "C0GENERAL", MENTION_TS)


async def test_progress_appears_at_once(slack: Slack) -> None:
    started = time.monotonic()
    await slack.event(mention())
    await slack.fake.wait_for(lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    first = min(c.at for c in slack.fake.calls
                if c.method in ("reactions.add", "chat.postMessage"))
    assert first - started < 1.5  # under 0.1 s when idle; room for a loaded CI machine
    await slack.settle()


async def test_the_http_ack_does_not_wait_for_the_run(make_slack: MakeSlack) -> None:
    slack = await make_slack()
    started = time.monotonic()
    resp = await slack.event(mention())
    assert resp.status == 200 and time.monotonic() - started < 3.0  # Slack's ack deadline
    await slack.settle()


async def test_retries_of_one_event_yield_one_answer(slack: Slack) -> None:
    await slack.event(mention())
    for n in (1, 2, 3):  # Slack's retries carry the same event_id
        resp = await slack.event(mention(), headers={"X-Slack-Retry-Num": str(n),
                                                     "X-Slack-Retry-Reason": "http_timeout"})
        assert resp.status == 200
    await slack.settle()
    assert len(_posts(slack, MENTION_TS)) == 2


async def test_a_retry_after_a_restart_is_still_a_duplicate(make_slack: MakeSlack) -> None:
    first = await make_slack()
    await first.event(mention())
    await first.settle()
    posts = len(first.fake.called("chat.postMessage"))
    second = await make_slack()  # a new process on the same database
    await second.event(mention(), headers={"X-Slack-Retry-Num": "2"})
    await second.settle()
    assert len(second.fake.called("chat.postMessage")) == posts


async def test_bad_signature_is_401_and_nothing_runs(slack: Slack) -> None:
    resp = await slack.event(mention(), secret="not-the-secret")
    assert resp.status == 401
    await slack.settle()
    assert not slack.fake.called("chat.postMessage")


async def test_stale_timestamp_is_401(slack: Slack) -> None:
    resp = await slack.event(mention(), timestamp=int(time.time()) - 6 * 60)
    assert resp.status == 401
    await slack.settle()
    assert not slack.fake.called("chat.postMessage")
    assert SECRET  # the secret signs the request; it never appears in responses
    assert SECRET not in await resp.text()


async def test_bots_and_edits_and_deletions_are_ignored(slack: Slack) -> None:
    for payload in (
        mention(event_id="Ev1", bot_id="B0OTHER"),
        message_event(event_id="Ev2", subtype="message_changed"),
        message_event(event_id="Ev3", subtype="message_deleted"),
        message_event(event_id="Ev4", user=BOT_USER, bot_id="B0BOT", channel_type="im",
                      channel="D0DM"),
        message_event(event_id="Ev5", text="chatter", channel_type="channel"),
    ):
        resp = await slack.event(payload)
        assert resp.status == 200  # acked (a 404 would make Slack retry)
    await slack.settle()
    assert not slack.fake.called("chat.postMessage")


async def test_dm_is_answered(slack: Slack) -> None:
    await slack.event(message_event(channel="D0DM", channel_type="im",
                                    text="How do tides work?"))
    await slack.settle()
    posts = _posts(slack, DM_TS)
    assert len(posts) == 2 and "tides" in posts[1]["text"].lower()


async def test_mention_in_a_thread_sends_the_thread_as_context(slack: Slack) -> None:
    slack.fake.threads[("C0GENERAL", ROOT_TS)] = thread_history()
    await slack.event(mention(thread_ts=ROOT_TS, text=f"<@{BOT_USER}> so which one?"))
    await slack.settle()
    replies = slack.fake.called("conversations.replies", channel="C0GENERAL", ts=ROOT_TS)
    assert len(replies) == 1
    answer = _posts(slack, ROOT_TS)
    assert answer  # answered in the existing thread


# -- payloads ---------------------------------------------------------------------------------

MENTION_TS = "1700000100.000100"
DM_TS = "1700000200.000100"
ROOT_TS = "1700000050.000100"


def mention(text: str = f"<@{BOT_USER}> Compare SQLite and PostgreSQL for a chat bot.", *,
            event_id: str = "Ev0MENTION01", ts: str = MENTION_TS, thread_ts: str | None = None,
            channel: str = "C0GENERAL", user: str = "U0ALICE",
            bot_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "client_msg_id": "5a3c7e0e-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
        "type": "app_mention",
        "text": text,
        "user": user,
        "ts": ts,
        "blocks": [{"type": "rich_text", "block_id": "Xy1", "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "user", "user_id": BOT_USER}, {"type": "text", "text": " question"}]}]}],
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "U0BOB"
    if bot_id:
        event["bot_id"] = bot_id
    return _envelope(event, event_id)


def message_event(text: str = "hello", *, event_id: str = "Ev0MESSAGE01", ts: str = DM_TS,
                  channel: str = "C0GENERAL", channel_type: str = "channel",
                  user: str = "U0ALICE", subtype: str | None = None,
                  thread_ts: str | None = None, bot_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message", "text": text, "user": user, "ts": ts, "team": TEAM,
        "channel": channel, "event_ts": ts, "channel_type": channel_type,
    }
    if subtype == "message_changed":
        event = {"type": "message", "subtype": "message_changed", "channel": channel,
                 "hidden": True, "ts": ts, "event_ts": ts, "channel_type": channel_type,
                 "message": {"type": "message", "user": user, "text": text + " (edited)",
                             "edited": {"user": user, "ts": ts}, "ts": "1700000000.000001"},
                 "previous_message": {"type": "message", "user": user, "text": text,
                                      "ts": "1700000000.000001"}}
    elif subtype == "message_deleted":
        event = {"type": "message", "subtype": "message_deleted", "channel": channel,
                 "hidden": True, "deleted_ts": "1700000000.000001", "ts": ts, "event_ts": ts,
                 "channel_type": channel_type,
                 "previous_message": {"type": "message", "user": user, "text": text}}
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "U0ALICE"
    if bot_id:
        event["bot_id"] = bot_id
        event["bot_profile"] = {"id": bot_id, "name": "some bot"}
    return _envelope(event, event_id)


def thread_history() -> list[dict[str, Any]]:
    return [
        {"type": "message", "user": "U0BOB", "text": "Should we use Postgres or SQLite?",
         "ts": ROOT_TS, "thread_ts": ROOT_TS, "reply_count": 2},
        {"type": "message", "user": "U0CAROL", "text": "SQLite is simpler &amp; embedded",
         "ts": "1700000060.000100", "thread_ts": ROOT_TS},
        {"type": "message", "user": "U0ALICE", "text": f"<@{BOT_USER}> so which one?",
         "ts": MENTION_TS, "thread_ts": ROOT_TS},
    ]


def _envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "context_team_id": TEAM,
        "api_app_id": "A0HEAVY",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000100,
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER,
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDBURUFNIn0",
    }
