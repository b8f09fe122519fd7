"""Scenario: how a run reaches the thread against the fake LLM: throttled edits, 429,
msg_too_long, very long answers as files, Stop, failures."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from heavy_engine.settings import Scope
from heavy_engine.testing import FakeLLM, error_reply, fake_config, text_reply

from .conftest import TOKEN, MakeSlack, Slack
from .fake_slack import BOT_USER, TEAM
from .test_mentions import MENTION_TS, mention, message_event


async def _llm_slack(make_slack: MakeSlack, fake_llm: FakeLLM, **overrides: Any) -> Slack:
    return await make_slack(fake_config(fake_llm.base_url, agents=2, **overrides))


def _answer_ts(slack: Slack) -> str:
    _card, answer, *_ = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    assert answer.ts is not None
    return answer.ts


async def test_edits_are_throttled_per_message(make_slack: MakeSlack, fake_llm: FakeLLM) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=3), edit_interval=0.3)
    fake_llm.latency = 0.05
    fake_llm.enqueue(text_reply(" ".join(f"word{i}" for i in range(400))), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    by_message: dict[str, list[float]] = {}
    for call in slack.fake.called("chat.update"):
        by_message.setdefault(call.args["ts"], []).append(call.at)
    assert by_message
    for times in by_message.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.28 for gap in gaps), gaps


async def test_no_message_is_written_twice_within_the_interval(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    # Posting a message counts as its first write: the final answer, too, waits its turn.
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2), edit_interval=0.3)
    fake_llm.latency = 0.05
    fake_llm.enqueue(text_reply(" ".join(f"word{i}" for i in range(400))), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    for post in slack.fake.called("chat.postMessage", thread_ts=MENTION_TS):
        times = [post.at, *(c.at for c in slack.fake.called("chat.update", ts=post.ts))]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.28 for gap in gaps), (post.args["text"][:40], gaps)


async def test_429_on_chat_update_waits_and_still_sends_the_final_state(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    slack.fake.fail_next("chat.update", "ratelimited", status=429, headers={"Retry-After": "1"})
    await slack.event(mention())
    await slack.settle()
    limited = [c for c in slack.fake.calls if c.method == "chat.update" and c.status == 429]
    assert len(limited) == 1
    after = [c for c in slack.fake.called("chat.update", ts=limited[0].args["ts"])
             if c.at > limited[0].at]
    assert after and after[0].at - limited[0].at >= 1.0  # Retry-After honoured
    card_ts = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)[0].ts
    final_card = slack.fake.called("chat.update", ts=card_ts)[-1].args
    assert final_card["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")


async def test_msg_too_long_splits_further_without_breaking_code(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    slack.fake.max_markdown_chars = 1000
    fake_llm.enqueue(text_reply(LONG_WITH_CODE), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    ok = [c for c in slack.fake.calls if c.method in ("chat.postMessage", "chat.update")
          and c.ok and c.args.get("thread_ts", MENTION_TS) == MENTION_TS]
    shown = [slack.fake.shown(c.args) for c in ok]
    final_pieces = [t for t in shown if "Paragraph" in t and ":writing_hand:" not in t
                    and "continues below" not in t]
    assert any(c.error == "msg_too_long" for c in slack.fake.calls)
    assert all(len(p) <= 1000 for p in final_pieces)
    assert all(p.count("```") % 2 == 0 for p in final_pieces)  # every fence closed
    joined = "\n".join(final_pieces)
    for i in range(1, 7):
        assert f"Paragraph {i}" in joined


async def test_a_very_long_answer_becomes_a_file_and_a_summary(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    long_answer = "\n\n".join(f"## Part {i}\n\n" + "Detail sentence. " * 200 for i in range(20))
    fake_llm.enqueue(text_reply(long_answer), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [url] = slack.fake.called("files.getUploadURLExternal")
    assert url.args["filename"].endswith(".md")
    [done] = slack.fake.called("files.completeUploadExternal")
    assert done.args["channel_id"] == "C0GENERAL" and done.args["thread_ts"] == MENTION_TS
    [uploaded] = slack.fake.uploads.values()
    assert uploaded.decode().strip() == long_answer.strip()
    summary = slack.fake.shown(slack.fake.called("chat.update", ts=_answer_ts(slack))[-1].args)
    assert "attached" in summary and len(summary) < 3000
    assert f"`{url.args['filename']}`" in summary  # names the file it attached
    assert len(slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)) == 2


async def test_stop_button_cancels_the_run(make_slack: MakeSlack, fake_llm: FakeLLM) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    fake_llm.latency = 0.4
    await slack.event(mention())
    card = await slack.fake.wait_for(
        lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    button = card[0].args["blocks"][-1]["elements"][0]
    resp = await slack.interaction(stop_click(button["value"], card[0].ts or "", "U0ALICE"))
    assert resp.status == 200
    await slack.settle()
    last = slack.fake.called("chat.update", ts=card[0].ts)[-1].args
    assert last["blocks"][0]["text"]["text"].startswith(":octagonal_sign: *Stopped*")
    assert slack.fake.called("reactions.add", name="octagonal_sign", timestamp=MENTION_TS)
    assert len(fake_llm.calls("synthesis")) == 0


async def test_stop_by_someone_else_is_refused(make_slack: MakeSlack, fake_llm: FakeLLM) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    fake_llm.latency = 0.2
    await slack.event(mention())
    card = await slack.fake.wait_for(
        lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    button = card[0].args["blocks"][-1]["elements"][0]
    await slack.interaction(stop_click(button["value"], card[0].ts or "", "U0MALLORY"))
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0MALLORY")
    assert "Only <@U0ALICE> or a workspace admin" in note.args["text"]
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_a_failed_run_says_one_sentence_with_a_reference(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=1))
    fake_llm.enqueue(*[error_reply(401, "Invalid API key sk-or-v1-abc123") for _ in range(4)])
    await slack.event(mention())
    await slack.settle()
    texts = [c.args.get("text", "") for c in slack.fake.calls if c.method.startswith("chat.")]
    failure = [t for t in texts if "(ref `" in t]
    assert failure and failure[-1].startswith(":warning:")
    assert "Traceback" not in failure[-1] and "\n" not in failure[-1]
    assert slack.fake.called("reactions.add", name="x", timestamp=MENTION_TS)
    for call in slack.fake.calls:
        assert TOKEN not in json.dumps(call.args)


async def test_an_internal_error_while_delivering_still_tells_the_asker(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # E.g. the database refuses to store the card's ts: the run is lost, the thread says so.
    async def locked(job: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(slack.runner, "save_reply", locked)
    await slack.event(mention())
    await slack.settle()
    [note] = [c for c in slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
              if "(ref `" in c.args["text"]]
    assert note.args["text"].startswith(":warning: ")
    assert slack.fake.called("reactions.remove", name="hourglass_flowing_sand",
                             timestamp=MENTION_TS)
    assert slack.fake.called("reactions.add", name="x", timestamp=MENTION_TS)
    assert "database is locked" not in json.dumps([c.args for c in slack.fake.calls])


async def test_follow_policy_answers_replies_in_threads_it_answered(slack: Slack) -> None:
    scope = Scope("slack", TEAM, "C0GENERAL")
    await slack.event(mention())
    await slack.settle()
    reply = message_event("and what about backups?", event_id="Ev0FOLLOW1",
                          ts="1700000300.000100", thread_ts=MENTION_TS)
    await slack.event(reply)  # policy "mention": not answered
    await slack.settle()
    before = len(slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    assert before == 2
    await slack.settings.set(scope, {"thread_policy": "follow"}, actor="test")
    reply["event_id"] = "Ev0FOLLOW2"
    await slack.event(reply)
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)) == before + 2
    # A thread the bot never answered in stays quiet even under "follow".
    other = message_event("unrelated", event_id="Ev0FOLLOW3", ts="1700000400.000100",
                          thread_ts="1699999999.000100")
    await slack.event(other)
    await slack.settle()
    assert not slack.fake.called("chat.postMessage", thread_ts="1699999999.000100")


async def test_bot_messages_never_ping(make_slack: MakeSlack, fake_llm: FakeLLM) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    fake_llm.enqueue(text_reply("Hey <!channel> and @here, see <!everyone>."), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    for call in slack.fake.calls:
        if call.method.startswith("chat."):
            blob = json.dumps(call.args)
            assert "<!channel>" not in blob and "<!everyone>" not in blob
            assert "@here" not in blob


# -- payloads ---------------------------------------------------------------------------------

LONG_WITH_CODE = "\n\n".join(
    [f"Paragraph {i}. " + "Some analysis text here. " * 14 for i in range(1, 4)]
    + ["```python\n" + "\n".join(f"value_{n} = compute({n})  # step {n}" for n in range(40))
       + "\n```"]
    + [f"Paragraph {i}. " + "More findings to report. " * 14 for i in range(4, 7)]
)


def stop_click(value: str, message_ts: str, user: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0HEAVY",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0GENERAL",
                      "is_ephemeral": False, "thread_ts": MENTION_TS},
        "trigger_id": "1234567890.1234567890.abcdef",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C0GENERAL", "name": "general"},
        "message": {"bot_id": "B0BOT", "type": "message", "text": "Researching", "user": BOT_USER,
                    "ts": message_ts, "thread_ts": MENTION_TS, "app_id": "A0HEAVY",
                    "blocks": []},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/xyz",
        "actions": [{"action_id": "heavy_stop", "block_id": "heavy_progress_actions",
                     "text": {"type": "plain_text", "text": "Stop", "emoji": True},
                     "value": value, "style": "danger", "type": "button",
                     "action_ts": "1700000101.000200"}],
    }
