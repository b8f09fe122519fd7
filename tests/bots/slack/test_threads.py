"""Scenario: a mention inside a thread brings the thread's earlier messages to the model,
bounded and cached; an unexpected failure reaches the user as one sentence with a reference."""

from __future__ import annotations

import json
import logging
import time

import pytest

from heavy_engine.testing import FakeLLM, fake_config

from .conftest import MakeSlack, Slack
from .fake_slack import BOT_USER
from .test_commands import config_command
from .test_mentions import MENTION_TS, ROOT_TS, mention, thread_history


async def test_thread_messages_reach_the_model_and_are_fetched_incrementally(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    slack.fake.threads[("C0GENERAL", ROOT_TS)] = thread_history()
    await slack.event(mention(thread_ts=ROOT_TS, text=f"<@{BOT_USER}> so which one?"))
    await slack.settle()
    [decompose] = fake_llm.calls("decompose")
    prompt = json.dumps(decompose.body)
    assert "Earlier messages in this Slack thread" in prompt
    assert "SQLite is simpler & embedded" in prompt  # Slack's escapes undone
    assert "so which one?" in prompt

    # A second question in the same thread only asks Slack for what is new.
    slack.fake.threads[("C0GENERAL", ROOT_TS)].append(
        {"type": "message", "user": "U0BOB", "text": f"<@{BOT_USER}> and backups?",
         "ts": "1700000900.000100", "thread_ts": ROOT_TS})
    await slack.event(mention(thread_ts=ROOT_TS, text=f"<@{BOT_USER}> and backups?",
                              event_id="Ev0MENTION09", ts="1700000900.000100"))
    await slack.settle()
    first, second = slack.fake.called("conversations.replies", ts=ROOT_TS)
    assert "oldest" not in first.args and second.args["oldest"] == MENTION_TS


async def test_an_unexpected_error_is_one_sentence_with_a_reference(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database password=hunter2 unreachable")

    monkeypatch.setattr(slack.settings, "resolve", broken)
    with caplog.at_level(logging.ERROR, logger="heavy.slack"):
        await slack.command(config_command(slack.fake, "show"))
        await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0ALICE")
    text = note.args["text"]
    assert text.startswith(":warning: Something went wrong on my side") and "(ref `" in text
    assert "hunter2" not in text and "RuntimeError" not in text
    ref = text.split("(ref `")[1].rstrip("`)")
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


async def test_an_admin_may_stop_someone_elses_run(make_slack: MakeSlack,
                                                   fake_llm: FakeLLM) -> None:
    from .test_delivery import stop_click

    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    fake_llm.latency = 0.4
    await slack.event(mention())
    [card] = await slack.fake.wait_for(
        lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    value = card.args["blocks"][-1]["elements"][0]["value"]
    await slack.interaction(stop_click(value, card.ts or "", "U0ADMIN"))
    await slack.settle()
    assert slack.fake.called("reactions.add", name="octagonal_sign", timestamp=MENTION_TS)
    assert not slack.fake.called("chat.postEphemeral")


async def test_a_quiet_stretch_still_refreshes_the_elapsed_time(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=1, tools=[]))
    slack.adapter.surface.tick = 0.2
    fake_llm.latency = 1.3  # one slow call and no events meanwhile
    await slack.event(mention())
    await slack.settle()
    card = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)[0]
    running = [c for c in slack.fake.called("chat.update", ts=card.ts)
               if ":hourglass_flowing_sand: *1.*" in json.dumps(c.args["blocks"])]
    assert any("_1s_" in json.dumps(c.args["blocks"]) for c in running)


async def test_a_rate_limited_thread_history_does_not_delay_the_answer(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    slack.fake.threads[("C0GENERAL", ROOT_TS)] = thread_history()
    # Non-Marketplace apps get one conversations.replies a minute.
    slack.fake.fail_next("conversations.replies", "ratelimited", status=429,
                         headers={"Retry-After": "60"})
    started = time.monotonic()
    await slack.event(mention(thread_ts=ROOT_TS, text=f"<@{BOT_USER}> so which one?"))
    await slack.settle()
    assert time.monotonic() - started < 5
    assert "Earlier messages" not in json.dumps(fake_llm.calls("decompose")[0].body)
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)
