"""Scenario: the answer through Slack's streaming API (the default; SLACK_STREAMING=0 turns it
off), and the fallbacks when the stream is unavailable or expires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.native._stream import StreamedAnswer, open_fence, sendable, stream_safe
from heavy_engine import Engine
from heavy_engine.testing import FakeLLM, fake_config, slow_reply, text_reply, tool_call_reply

from ..conftest import TOKEN, MakeSlack, Slack
from ..fake_slack import TEAM, FakeSlack
from ..test_delivery import stop_click
from ..test_mentions import MENTION_TS, mention
from ..test_sources import fetch_engine  # noqa: F401 (a fixture)

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
    assert start.args["thread_ts"] == MENTION_TS and start.args["task_display_mode"] == "plan"
    assert start.args["recipient_team_id"] == TEAM
    assert start.args["recipient_user_id"] == "U0ALICE"
    [stream] = slack.fake.streams.values()
    assert stream["stopped"] and stream["text"] == ANSWER
    # One task per agent, updated in place: pending or running, then complete.
    tasks = [c for c in stream["chunks"] if c["type"] == "task_update"]
    assert {t["id"] for t in tasks} == {"agent-1", "agent-2"}
    for task_id in ("agent-1", "agent-2"):
        states = [t["status"] for t in tasks if t["id"] == task_id]
        assert states[-1] == "complete" and len(states) == len(set(states))  # no repeats
        assert set(states) <= {"pending", "in_progress", "complete"}
    assert any(c["type"] == "plan_update" for c in stream["chunks"])
    # The answer ends with its footer, Regenerate / Go deeper and the feedback buttons.
    assert [b["type"] for b in stream["blocks"]] == ["context", "actions", "context_actions"]
    assert "Go deeper" in str(stream["blocks"][1])  # the buttons close the stream too
    assert "2/2 agents" in str(stream["blocks"][0])
    # No progress card and no ⏳ reaction: the stream shows the run. Beside it, one small
    # message holds Stop while the stream runs (a stream takes buttons only when it stops).
    [stop] = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    assert "heavy_stop" in str(stop.args["blocks"])
    [ended] = slack.fake.called("chat.update", ts=stop.ts)
    assert "Finished" in ended.args["text"] and "heavy_stop" not in str(ended.args["blocks"])
    assert not slack.fake.called("reactions.add", name="hourglass_flowing_sand")
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
    assert "Streaming works" in slack.fake.shown(final)
    assert [b["type"] for b in final["blocks"]][-3:] == ["context", "actions", "context_actions"]
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_a_stream_slack_closes_mid_run_continues_with_the_card_and_chat_update(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    slack.fake.stream_ttl = 0.4  # Slack's five minutes, shortened
    fake_llm.latency = 0.25  # the run outlives the stream
    fake_llm.enqueue(text_reply(ANSWER), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [start] = slack.fake.called("chat.startStream")
    [stream] = slack.fake.streams.values()
    assert stream["expired"] and not stream["stopped"]
    assert any(c.error == "message_not_in_streaming_state" for c in slack.fake.calls)
    # The card took over the agents' progress; the streamed message became the answer.
    [card, *_] = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    last = [card, *slack.fake.called("chat.update", ts=card.ts)][-1].args
    assert last["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")
    assert "2/2 agents finished" in last["blocks"][0]["text"]["text"]
    final = slack.fake.called("chat.update", ts=start.ts)[-1].args
    assert "Streaming works" in slack.fake.shown(final)
    assert [b["type"] for b in final["blocks"]][-3:] == ["context", "actions", "context_actions"]
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_tasks_carry_the_running_tool_the_finding_and_the_fetched_urls(
    make_slack: MakeSlack, fake_llm: FakeLLM, fetch_engine: Engine  # noqa: F811
) -> None:
    config = fake_config(fake_llm.base_url, agents=2, tools=["fetch_url"])
    slack = await make_slack(config, engine=fetch_engine, streaming=True)
    fake_llm.enqueue(json.dumps({"questions": ["Read the doc", "Think it over"]}),
                     when="decompose")
    fake_llm.enqueue(tool_call_reply(("fetch_url", {"url": "https://a.example/doc"}),
                                     delay=0.3),
                     text_reply("It is 42.", delay=0.3), text_reply("Also 42.", delay=0.3),
                     when="agent")
    fake_llm.enqueue(text_reply("The answer is 42."), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [stream] = slack.fake.streams.values()
    tasks = [c for c in stream["chunks"] if c["type"] == "task_update"]
    titles = {t["id"]: t["title"] for t in tasks if t["id"].startswith("agent-")}
    assert sorted(titles.values()) == ["Read the doc", "Think it over"]
    reader = next(i for i, t in titles.items() if t == "Read the doc")
    mine = [t for t in tasks if t["id"] == reader]
    done = mine[-1]
    assert done["status"] == "complete" and done["output"]  # a one-line finding
    assert [s["url"] for s in done["sources"]] == ["https://a.example/doc"]
    assert stream["text"].startswith("The answer is 42.")
    assert "**Sources**" not in stream["text"]  # not listed twice
    # The answer's sources ride on the stream as its URL-sources element (a finished
    # "Sources" task), not as a second list in the blocks.
    [sources] = [t for t in tasks if t["id"] == "sources"]
    assert sources["status"] == "complete"
    assert sources["sources"] == [{"type": "url", "url": "https://a.example/doc",
                                   "text": "Doc A"}]
    assert [b["type"] for b in stream["blocks"]] == ["context", "actions", "context_actions"]


async def test_without_the_streaming_api_the_answer_is_posted(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    slack.fake.fail_next("chat.startStream", "unknown_method", times=50)  # e.g. GovSlack
    await slack.event(mention())
    await slack.settle()
    _card, answer = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    final = [answer, *slack.fake.called("chat.update", ts=answer.ts)][-1].args
    assert [b["type"] for b in final["blocks"]][-3:] == ["context", "actions", "context_actions"]
    assert not slack.fake.streams
    # The process remembers: the next answer does not try again.
    await slack.event(mention(event_id="Ev0MENTION02", ts="1700000700.000100"))
    await slack.settle()
    assert len([c for c in slack.fake.calls if c.method == "chat.startStream"]) == 1
    assert len(slack.fake.called("chat.postMessage", thread_ts="1700000700.000100")) == 2


async def test_a_failed_attachment_after_a_long_stream_still_ends_the_job(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    slack.fake.fail_next("files.getUploadURLExternal", "missing_scope")
    fake_llm.enqueue(text_reply("Long findings. " * 1000), when="synthesis")  # 15,000 chars
    await slack.event(mention())
    await slack.settle()
    [stream] = slack.fake.streams.values()
    assert stream["stopped"] and "attached as a file" in stream["text"]
    # The user learns the file is missing, and the job reaches its final state.
    [note] = [c for c in slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
              if "(ref `" in c.args["text"]]
    assert note.args["text"].startswith(":warning: I could not attach the full answer")
    assert slack.fake.called("reactions.remove", name="hourglass_flowing_sand",
                             timestamp=MENTION_TS)
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=MENTION_TS)


async def test_a_stream_cut_inside_a_code_block_closes_it_before_the_note(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _streaming(make_slack, fake_llm)
    code = "```python\n" + "\n".join(f"step_{i} = run({i})" for i in range(1200)) + "\n```"
    fake_llm.enqueue(text_reply("Intro.\n\n" + code + "\n\nOutro."), when="synthesis")
    await slack.event(mention())
    await slack.settle()
    [stream] = slack.fake.streams.values()
    body, note = stream["text"].rsplit("\n\n", 1)
    assert "attached as a file" in note
    assert body.count("```") % 2 == 0  # the note is not inside the code block


async def test_the_closing_note_of_a_stream_cannot_ping(fake_slack: FakeSlack) -> None:
    # A failed run's sentence can quote a provider's error text: it is as untrusted as the
    # answer itself.
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url)
    stream = StreamedAnswer(client, "C0GENERAL", thread_ts=MENTION_TS, team=TEAM, user="U0ALICE")
    assert await stream.finish("The partial answer ", footer_blocks=[],
                               note="\n\n:warning: rejected: <!channel> and @here (ref `j1`)")
    [sent] = fake_slack.streams.values()
    assert "<!channel>" not in sent["text"] and "@here" not in sent["text"]
    assert sent["text"].startswith("The partial answer \n\n:warning: rejected:")


async def test_a_final_text_without_the_streamed_blank_lines_still_finishes_in_place(
    fake_slack: FakeSlack,
) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url)
    stream = StreamedAnswer(client, "C0GENERAL", thread_ts=MENTION_TS, team=TEAM, user="U0ALICE")
    stream.set("The answer.\n\n")  # what streamed before the Sources list arrived
    await stream.settle()
    assert stream.sent == "The answer.\n\n"
    assert await stream.finish("The answer.", footer_blocks=[{"type": "context", "elements": [
        {"type": "mrkdwn", "text": "footer"}]}])
    [sent] = fake_slack.streams.values()
    assert sent["stopped"] and sent["text"] == "The answer.\n\n"
    assert sent["blocks"][0]["elements"][0]["text"] == "footer"  # stopped with its blocks


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
    ("markdown", "fence"),
    [
        ("no code", None),  # nothing open
        ("```py\nx = 1\n```\nafter", None),  # opened and closed
        ("text\n```py\nx = 1", "```"),  # cut inside a block
        ("~~~~\n```\nstill inside", "~~~~"),  # a longer tilde fence; ``` does not close it
    ],
)
def test_open_fence(markdown: str, fence: str | None) -> None:
    assert open_fence(markdown) == fence


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


async def test_stop_beside_a_running_stream_ends_the_run_within_two_seconds(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    """Issue 27 §4: a streamed run has its Stop while it runs; the stream says it stopped."""
    slack = await _streaming(make_slack, fake_llm)
    fake_llm.enqueue(slow_reply(30), when="agent")  # the agents would take 30 s
    fake_llm.enqueue(slow_reply(30), when="agent")
    await slack.event(mention())
    stop = await _wait_for(lambda: slack.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    [button] = [e for b in stop[0].args["blocks"] if b["type"] == "actions"
                for e in b["elements"]]
    await _wait_for(lambda: slack.fake.called("chat.startStream"))
    pressed = asyncio.get_running_loop().time()
    await slack.interaction(stop_click(button["value"], stop[0].ts or "", "U0ALICE"))
    stopped = await _wait_for(lambda: [s for s in slack.fake.streams.values() if s["stopped"]])
    assert asyncio.get_running_loop().time() - pressed < 2.0
    assert "stopped" in stopped[0]["text"].lower()
    await slack.settle()
    [ended] = slack.fake.called("chat.update", ts=stop[0].ts)[-1:]
    assert "Stopped" in ended.args["text"] and "heavy_stop" not in str(ended.args["blocks"])
    assert slack.fake.called("reactions.add", name="octagonal_sign", timestamp=MENTION_TS)


async def _wait_for(found: Callable[[], list[Any]], within: float = 60.0) -> list[Any]:
    """Poll until `found()` is non-empty (generous: a loaded machine is slow, not hung)."""
    deadline = asyncio.get_running_loop().time() + within
    while not (got := found()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return got
