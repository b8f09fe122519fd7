"""Discord rendering as pure functions: tables with a comment per row."""

from __future__ import annotations

import discord
import pytest

from bots.discord._commands import model_choices
from bots.discord._render import (
    CONTENT_LIMIT,
    EMBED_TOTAL_LIMIT,
    answer_mentions,
    clip,
    clip_start,
    failure_text,
    format_seconds,
    neutralise_mentions,
    plan_answer,
    progress_embed,
    strip_bot_mention,
    thread_name,
)
from heavy_engine import (
    Accepted,
    AgentFinished,
    AgentStarted,
    Done,
    NotesCompared,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
    ToolCalled,
)
from heavy_engine.progress import ProgressState

ZW = "\u200b"
BOT = 900000000000000001


@pytest.mark.parametrize(("text", "expected"), [
    ("hello", "hello"),  # nothing to defuse
    ("@everyone look", f"@{ZW}everyone look"),  # mass mention
    ("hi @here!", f"hi @{ZW}here!"),  # the other mass mention
    ("ping <@&123456>", f"ping @{ZW}role"),  # role mentions never render as roles
    ("<@42> is fine", "<@42> is fine"),  # user mentions stay (allowed_mentions stops pings)
    ("email a@everyone.com", f"email a@{ZW}everyone.com"),  # harmless over-defusing is ok
])
def test_neutralise_mentions(text: str, expected: str) -> None:
    assert neutralise_mentions(text) == expected


@pytest.mark.parametrize(("content", "expected"), [
    (f"<@{BOT}> what is up", "what is up"),  # plain mention
    (f"<@!{BOT}>   spaced  ", "spaced"),  # legacy nickname form, whitespace trimmed
    (f"<@{BOT}>", ""),  # mention only: empty question
    (f"compare <@{BOT}> a and b", "compare  a and b"),  # mention in the middle
    ("<@123> other user", "<@123> other user"),  # someone else's mention stays
])
def test_strip_bot_mention(content: str, expected: str) -> None:
    assert strip_bot_mention(content, BOT) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("short", "short"),  # as is
    ("  two\nlines  ", "two lines"),  # one line, whitespace collapsed
    ("", "heavy"),  # never empty: Discord needs 1-100 characters
    ("x" * 150, "x" * 99 + "…"),  # cut to 100
    ("@everyone now", f"@{ZW}everyone now"),  # defused like everything else we echo
])
def test_thread_name(question: str, expected: str) -> None:
    assert thread_name(question) == expected
    assert 1 <= len(thread_name(question)) <= 100


@pytest.mark.parametrize(("text", "limit", "start", "end"), [
    ("abcdef", 10, "abcdef", "abcdef"),  # fits
    ("abcdef", 4, "abc…", "…def"),  # cut: clip keeps the start, clip_start the end
    ("abcdef", 6, "abcdef", "abcdef"),  # exactly at the limit
])
def test_clip(text: str, limit: int, start: str, end: str) -> None:
    assert clip(text, limit) == start
    assert clip_start(text, limit) == end


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0s"),  # start
    (59.9, "59s"),  # under a minute
    (61, "1m 01s"),  # minutes
    (-3, "0s"),  # clock skew never shows negative
])
def test_format_seconds(seconds: float, expected: str) -> None:
    assert format_seconds(seconds) == expected


FENCE = "```python\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```"


@pytest.mark.parametrize(("answer", "prefix", "messages", "attach"), [
    ("Short answer.", "", 1, False),  # one message, footer appended
    ("Short answer.", "<@1>", 1, False),  # requester mention first
    ("para\n\n" * 500, "", 2, False),  # 3,000 chars: two messages, no file
    (FENCE, "", 3, False),  # a long code block is split with fences balanced
    ("word " * 1500, "", 4, True),  # 7,500 chars: all in messages, and the .md file too
    ("word " * 8000, "", 5, True),  # 40,000 chars: 4 messages, a note, and the file
])
def test_plan_answer(answer: str, prefix: str, messages: int, attach: bool) -> None:
    plan = plan_answer(answer, "fake/model · 2/2 agents", prefix=prefix)
    assert len(plan.messages) == messages
    assert plan.attach is attach
    assert all(len(m) <= CONTENT_LIMIT for m in plan.messages)
    assert all(m.count("```") % 2 == 0 for m in plan.messages)  # no fence left open
    assert plan.messages[-1].endswith("-# fake/model · 2/2 agents")
    if prefix:
        assert plan.messages[0].startswith(prefix + "\n")


def test_plan_answer_defuses_mass_mentions() -> None:
    plan = plan_answer("@everyone read this", "")
    assert plan.messages == [f"@{ZW}everyone read this"]


def test_answer_mentions_allow_only_the_requester() -> None:
    allowed = answer_mentions(42).to_dict()
    assert allowed == {"parse": [], "users": [42]}  # no everyone, no roles, no reply ping


@pytest.mark.parametrize(("status", "error", "expected"), [
    ("failed", "All 2 agents failed: no credits",
     "⚠️ All 2 agents failed: no credits (ref `j1`)"),  # the engine's sentence, and the ref
    ("timeout", None, "⚠️ Something went wrong while answering. (ref `j1`)"),  # no detail
    ("cancelled", "The request was cancelled.", "⏹️ Stopped before an answer was ready."),
    ("failed", "@everyone boom\n  Traceback", f"⚠️ @{ZW}everyone boom (ref `j1`)"),  # 1st line, defused
])
def test_failure_text(status: str, error: str | None, expected: str) -> None:
    assert failure_text(error, "j1", status=status) == expected


def _state(agents: int, *, question: str = "Why?", tool: bool = False, error: str = "",
           synthesis: str = "", done: bool = False) -> ProgressState:
    state = ProgressState()
    state.apply(Accepted(request_id="r", question=question, agents=agents), now=0)
    qs = tuple(f"Sub-question {i} " + "y" * 400 for i in range(agents))
    state.apply(QuestionsReady(questions=qs), now=0)
    for i in range(agents):
        state.apply(AgentStarted(index=i, question=qs[i], model="m"), now=1)
        if tool:
            state.apply(ToolCalled(index=i, tool="web_search", arguments='{"q": "x"}' + "a" * 200),
                        now=2)
        elif error:
            state.apply(AgentFinished(index=i, status="failed", iterations=1, elapsed_s=3,
                                      prompt_tokens=1000, completion_tokens=234, error=error),
                        now=4)
        else:
            state.apply(AgentFinished(index=i, status="ok", iterations=1, elapsed_s=3,
                                      prompt_tokens=1000, completion_tokens=234), now=4)
    if synthesis:
        state.apply(SynthesisStarted(survivors=agents), now=5)
        state.apply(SynthesisDelta(text=synthesis), now=5)
    if done:
        state.apply(Done(result=RunResult(request_id="r", question=question, status="ok",
                                          answer=synthesis, elapsed_s=9)), now=9)
    return state


def test_comparing_notes_is_said_in_words() -> None:
    state = _state(2)
    state.apply(NotesCompared(agents=2), now=5)
    assert progress_embed(state, now=6).title == "🔁 Comparing notes (2 agents revising)…"


@pytest.mark.parametrize(("state", "title", "fields"), [
    (_state(2), "🔎 Researching · 2/2 agents done", 2),  # agents finished, no synthesis yet
    (_state(3, tool=True), "🔎 Researching · 0/3 agents done", 3),  # tools running
    (_state(16, synthesis="z" * 9000), "✍️ Writing the answer…", 16),  # the largest card
    (_state(16, tool=True), "🔎 Researching · 0/16 agents done", 16),  # 16 tools running
    (_state(16, error="e" * 500), "🔎 Researching · 16/16 agents done", 16),  # 16 long errors
    (_state(16, question="q" * 5000, tool=True), "🔎 Researching · 0/16 agents done", 16),
    (_state(4, question="q" * 5000, synthesis="s" * 5000), "✍️ Writing the answer…", 4),
    (_state(2, synthesis="answer", done=True), "✅ Done", 2),  # final state
])
def test_progress_embed_stays_within_discord_limits(
    state: ProgressState, title: str, fields: int
) -> None:
    embed = progress_embed(state, now=6)
    data = embed.to_dict()
    assert data["title"] == title
    assert len(data["fields"]) == fields
    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert len(data.get("description", "")) <= 4096
    assert all(len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in data["fields"])


def test_progress_embed_shows_the_running_tool_and_the_newest_synthesis() -> None:
    running = progress_embed(_state(1, tool=True), now=6).to_dict()
    assert "🔧 `web_search`" in running["fields"][0]["value"]
    assert running["fields"][0]["name"] == "Agent 1 · 🔄 running · 5s"
    streaming = progress_embed(_state(1, synthesis="a" * 8000 + "THE END"), now=6).to_dict()
    assert streaming["description"].endswith("THE END")  # newest words, not the oldest


def test_progress_embed_starting_and_note() -> None:
    assert progress_embed(ProgressState(), 0).title == "⏳ Starting…"
    done = progress_embed(_state(1, synthesis="x", done=True), 9, note="Answer in <#5>.")
    assert "Answer in <#5>." in (done.description or "")
    assert done.colour == discord.Colour.green()


@pytest.mark.parametrize(("typed", "expected"), [
    ("", ["a/one", "b/two", "c/ONE"]),  # everything when nothing is typed
    ("one", ["a/one", "c/ONE"]),  # case-insensitive substring
    ("zzz", []),  # no match
])
def test_model_choices(typed: str, expected: list[str]) -> None:
    assert [c.value for c in model_choices(["a/one", "b/two", "c/ONE"], typed)] == expected


def test_model_choices_cap_at_25() -> None:
    assert len(model_choices([f"m/{i}" for i in range(40)], "")) == 25
