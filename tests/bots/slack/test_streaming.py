"""Scenario: the answer through Slack's streaming API (the default; SLACK_STREAMING=0 turns it
off), and the fallbacks when the stream is unavailable or expires."""

from __future__ import annotations

import pytest

from bots.slack._stream import sendable, stream_safe
from heavy_engine.testing import FakeLLM, fake_config, text_reply

from .conftest import MakeSlack, Slack
from .fake_slack import TEAM
from .test_mentions import MENTION_TS, mention

WJ = "\u2060"


async def _streaming(make_slack: MakeSlack, fake_llm: FakeLLM) -> Slack:
    return await make_slack(fake_config(fake_llm.base_url, agents=2), streaming=True)


async def test_the_synthesis_streams_into_the_thread(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    fake_llm.enqueue(text_reply(ANSWER), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [start] = slack.fake.called("chat.startStream")
    assert start.args["thread_ts"] == MENTION_TS
    assert start.args["recipient_team_id"] == TEAM
    assert start.args["recipient_user_id"] == "U0ALICE"
    [stream] = slack.fake.streams.values()
    assert stream["stopped"] and stream["text"] == ANSWER
    assert stream["blocks"][0]["type"] == "context" and "2/2 agents" in str(stream["blocks"])
    # Only the progress card was posted the ordinary way.
    assert len(slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)) == 1
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_an_expired_stream_falls_back_to_editing_the_message(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    slack.fake.fail_next("chat.appendStream", "message_not_in_streaming_state", times=50)
    slack.fake.fail_next("chat.stopStream", "message_not_in_streaming_state", times=50)
    fake_llm.enqueue(text_reply(ANSWER), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [start] = slack.fake.called("chat.startStream")
    final = slack.fake.called("chat.update", ts=start.ts)[-1].args
    assert "Streaming works" in final["text"] and final["blocks"][-1]["type"] == "context"
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_without_the_streaming_api_the_answer_is_posted(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    slack.fake.fail_next("chat.startStream", "unknown_method", times=50)  # e.g. GovSlack
    await slack.event(mention())
    await slack.settle()
    _card, answer = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    final = [answer, *slack.fake.called("chat.update", ts=answer.ts)][-1].args
    assert final["blocks"][-1]["type"] == "context"
    assert not slack.fake.streams
    # The process remembers: the next answer does not try again.
    await slack.event(mention(event_id="Ev0MENTION02", ts="1700000700.000100"))
    await slack.settle()
    assert len([c for c in slack.fake.calls if c.method == "chat.startStream"]) == 1
    assert len(slack.fake.called("chat.postMessage", thread_ts="1700000700.000100")) == 2


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # Slack's control sequences lose their power; the text stays readable.
        ("hi <!channel>", f"hi <{WJ}!channel>"),
        ("ask <@U123>", f"ask <{WJ}@U123>"),
        ("@here now", f"@{WJ}here now"),
        # Ordinary Markdown is untouched.
        ("**bold** <https://x.io>", "**bold** <https://x.io>"),
    ],
)
def test_stream_safe(markdown: str, expected: str) -> None:
    assert stream_safe(markdown) == expected


@pytest.mark.parametrize(
    ("growing", "sent"),
    [
        # The last word may still grow into @here: it waits for the next chunk.
        ("tell @her", "tell "),
        ("no space yet", "no space "),
        ("word", ""),
        ("line one\nline", "line one\n"),
    ],
)
def test_sendable_holds_back_the_last_word(growing: str, sent: str) -> None:
    assert sendable(growing) == sent


# -- payloads ---------------------------------------------------------------------------------

ANSWER = ("## Streaming works\n\nThe answer arrives in pieces while it is written, "
          "then the footer.\n\n- one\n- two")
