"""Progress card, answer planning, thread context and environment: pure functions."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bots.slack import create_adapter, slack_env
from bots.slack._answer import plan_answer
from bots.slack._context import format_thread
from bots.slack._render import (
    failed_answer,
    failure_text,
    partial_answer,
    progress_card,
    queued_card,
    shorten_safe,
)
from bots.slack._stop import parse_stop_value
from heavy_engine import (
    AgentFinished,
    AgentStarted,
    Done,
    NotesCompared,
    QuestionsReady,
    RunResult,
    SynthesisStarted,
    ToolCalled,
)
from heavy_engine.progress import ProgressState


def _state(*events: Any) -> ProgressState:
    state = ProgressState(started_at=0.0)
    for event in events:
        state.apply(event, now=1.0)
    return state


QUESTIONS = QuestionsReady(questions=("What is <!here>?", "Costs @channel"))


@pytest.mark.parametrize(
    ("events", "headline", "lines", "stop"),
    [
        # Before the plan: phase only, with a Stop button.
        ((), ":hourglass_flowing_sand: *Starting…*", [], True),
        # Agents listed with their state; the running one shows its tool.
        ((QUESTIONS, AgentStarted(0, "What is <!here>?", "m"),
          ToolCalled(0, "web_search", '{"q": "tides"}')),
         ":hourglass_flowing_sand: *Researching…*",
         [":hourglass_flowing_sand: *1.*", "running `web_search`", ":white_circle: *2.*"], True),
        # A finished agent shows tokens; a failed one its error.
        ((QUESTIONS, AgentStarted(0, "q", "m"), AgentStarted(1, "q", "m"),
          AgentFinished(0, "ok", 2, 3.0, 100, 1400),
          AgentFinished(1, "failed", 1, 1.0, error="provider said no"), SynthesisStarted(1)),
         ":hourglass_flowing_sand: *Writing the answer…*",
         [":white_check_mark: *1.*", "1.5k tokens", ":x: *2.*", "provider said no"], True),
        # `rounds: 2`: the agents compare notes, in words (not the phase's name).
        ((QUESTIONS, AgentFinished(0, "ok", 1, 1.0), AgentFinished(1, "ok", 1, 1.0),
          NotesCompared(2)),
         ":hourglass_flowing_sand: *Comparing notes (2 agents revising)…*", [], True),
        # Done: the headline says how it ended and the Stop button is gone.
        ((QUESTIONS, Done(RunResult("r", "q", status="cancelled"))),
         ":octagonal_sign: *Stopped*", [], False),
        ((QUESTIONS, Done(RunResult("r", "q", status="timeout"))),
         ":alarm_clock: *Timed out*", [], False),
    ],
)
def test_progress_card(events: tuple[Any, ...], headline: str, lines: list[str],
                       stop: bool) -> None:
    _, blocks = progress_card(_state(*events), 5.0, job_id="j1", requester="U1")
    assert blocks[0]["text"]["text"].startswith(headline)
    body = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    for line in lines:
        assert line in body
    assert "<!here>" not in body and "@channel" not in body  # questions come from a model
    assert (blocks[-1]["type"] == "actions") is stop
    if stop:
        assert parse_stop_value(blocks[-1]["elements"][0]["value"]) == ("j1", "U1")


def test_sixteen_agents_fit_the_block_limits() -> None:
    questions = QuestionsReady(questions=tuple("x" * 500 for _ in range(16)))
    _, blocks = progress_card(_state(questions), 1.0, job_id="j", requester="U")
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(json.dumps(blocks)) < 16_000


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ('{"job":"abc","user":"U1"}', ("abc", "U1")),  # ours
        ("not json", None),  # someone else's button
        ('{"job":"abc"}', None),  # missing the requester
    ],
)
def test_parse_stop_value(value: str, parsed: tuple[str, str] | None) -> None:
    assert parse_stop_value(value) == parsed


@pytest.mark.parametrize(
    ("markdown", "messages", "attached"),
    [
        # Short: one message.
        ("Hello **world**", 1, False),
        # Tens of thousands of characters: several messages, each within Slack's 12,000.
        ("\n\n".join("Paragraph. " * 300 for _ in range(9)), 3, False),
        # Very long: one summary message plus the full Markdown as a file.
        ("\n\n".join("Paragraph. " * 300 for _ in range(20)), 1, True),
    ],
)
def test_plan_answer(markdown: str, messages: int, attached: bool) -> None:
    plan = plan_answer(markdown, footer="fake · 2/2 agents")
    assert len(plan.messages) == messages
    assert all(sum(len(b["text"]) for b in m.blocks if b["type"] == "markdown") <= 12_000
               for m in plan.messages)
    assert plan.messages[-1].blocks[-1]["type"] == "context"  # the footer ends it
    assert (plan.attachment == markdown) if attached else plan.attachment is None


def test_partial_answer_keeps_fences_closed_and_marks_unfinished() -> None:
    [block] = partial_answer("intro\n\n```python\n" + "x = 1\n" * 3000).blocks
    assert block["type"] == "markdown"
    assert len(block["text"]) <= 11_000 and block["text"].count("```") % 2 == 0
    assert "continues below" in block["text"]
    assert partial_answer("short").blocks[0]["text"].endswith(":writing_hand:")
    assert len(partial_answer("word " * 2199).blocks[0]["text"]) <= 11_000  # the marker fits


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a <b> c", 20, "a &lt;b&gt; c"),  # fits once escaped
        ("<" * 10, 20, "&lt;&lt;&lt;&lt;…"),  # cut after escaping, never inside `&lt;`
        ("two\n lines", 20, "two lines"),  # one line
        ("@here " * 10, 12, "@\u2060here @\u2060he…"),  # still defused once cut
    ],
)
def test_shorten_safe(text: str, limit: int, expected: str) -> None:
    assert shorten_safe(text, limit) == expected
    assert len(shorten_safe(text, limit)) <= limit


SORRY = ":warning: The request ran out of time (60 s). (ref `abc`)"


@pytest.mark.parametrize(
    ("partial", "expected_start"),
    [
        # Nothing was written yet: the sentence alone.
        ("", None),
        # A short partial answer, as Markdown Slack renders, then the sentence under it.
        ("*Intro* so far", "*Intro* so far"),
        # Cut inside a long code block: the fence is closed before the sentence.
        ("intro\n\n```python\n" + "x = 1\n" * 3000, "intro\n\n```python\nx = 1"),
        # One endless line: cut hard, still one markdown block.
        ("word" * 5000, "wordword"),
    ],
)
def test_failed_answer_keeps_fences_closed_and_fits_a_block(partial: str,
                                                             expected_start: str | None) -> None:
    message = failed_answer(partial, SORRY)
    assert message.blocks[-1] == {"type": "section", "text": {"type": "mrkdwn", "text": SORRY}}
    if expected_start is None:
        assert len(message.blocks) == 1
        return
    text = message.blocks[0]["text"]
    assert message.blocks[0]["type"] == "markdown" and text.startswith(expected_start)
    assert len(text) <= 11_000 and text.count("```") % 2 == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # The first line only: stack traces never reach the user.
        ("Provider failed\nTraceback (most recent call last):",
         ":warning: Provider failed (ref `abc`)"),
        (None, ":warning: Something went wrong while answering. (ref `abc`)"),
        ("<!channel> broke", ":warning: &lt;!channel&gt; broke (ref `abc`)"),
    ],
)
def test_failure_text(error: str | None, expected: str) -> None:
    assert failure_text(error, "abc") == expected


def _msg(ts: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"ts": ts, "user": user, "text": text, **extra}


@pytest.mark.parametrize(
    ("messages", "kwargs", "expected"),
    [
        # Earlier messages only, oldest first, the bot labelled as itself.
        ([_msg("1", "U1", "Postgres or SQLite?"), _msg("2", "UBOT", "It depends."),
          _msg("3", "U1", "<@UBOT> on what?")], {},
         "Earlier messages in this Slack thread, oldest first:\n"
         "[user U1] Postgres or SQLite?\n[heavy (you)] It depends."),
        # Nothing before the question: no context at all.
        ([_msg("3", "U1", "<@UBOT> hi")], {}, None),
        # Too many messages: the newest are kept and the cut is said.
        ([_msg(str(i), "U1", f"m{i}") for i in range(1, 6)] + [_msg("9", "U1", "q")],
         {"max_messages": 2},
         "Earlier messages in this Slack thread, oldest first (3 older messages left out):\n"
         "[user U1] m4\n[user U1] m5"),
        # A long message is shortened.
        ([_msg("1", "U1", "x" * 50), _msg("9", "U1", "q")], {"per_message_chars": 10},
         "Earlier messages in this Slack thread, oldest first:\n[user U1] xxxxxxxxxx [...]"),
    ],
)
def test_format_thread(messages: list[dict[str, Any]], kwargs: dict[str, Any],
                       expected: str | None) -> None:
    question_ts = messages[-1]["ts"]  # the last message is the one being answered
    assert format_thread(messages, bot_user_id="UBOT", before_ts=question_ts,
                         **kwargs) == expected


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        # No bot token: Slack stays off.
        ({}, None),
        # HTTP mode.
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "https://slack.com/api/"),
        # Socket Mode needs no signing secret; a custom API host gets its slash.
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
          "SLACK_API_URL": "https://slack-gov.com/api"}, "https://slack-gov.com/api/"),
    ],
)
def test_slack_env(env: dict[str, str], outcome: str | None) -> None:
    parsed = slack_env(env)
    assert (parsed.api_url if parsed else None) == outcome
    if parsed:
        assert "xoxb" not in repr(parsed) and "xapp" not in repr(parsed)


def test_slack_env_refuses_a_token_without_a_way_to_receive_events() -> None:
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        slack_env({"SLACK_BOT_TOKEN": "xoxb-1"})


def test_create_adapter_is_none_without_credentials() -> None:
    services = SimpleNamespace(env={})
    assert create_adapter(services) is None  # type: ignore[arg-type]


def test_public_surface() -> None:
    import bots.slack

    assert sorted(bots.slack.__all__) == [
        "EVENTS_PATH", "SlackAdapter", "SlackEnv", "create_adapter", "slack_env"]
    assert all(hasattr(bots.slack, name) for name in bots.slack.__all__)


@pytest.mark.parametrize(
    ("position", "text"),
    [
        (1, ":hourglass: Queued: this question is next."),  # the runner's 1 is next in line
        (2, ":hourglass: Queued: 1 question ahead of this one."),  # singular
        (5, ":hourglass: Queued: 4 questions ahead of this one."),  # plural
    ],
)
def test_queued_card_counts_the_questions_ahead(position: int, text: str) -> None:
    assert queued_card(position, job_id="j1", requester="U1")[0] == text
