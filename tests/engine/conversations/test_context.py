"""Bounded conversation context from neutral message records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heavy_engine import RunResult
from heavy_engine.conversations import (
    CHAIN_HEADER,
    DM_HEADER,
    ChatMessage,
    conversation_context,
    dm_context,
    recent_exchanges,
    reply_chain_context,
)
from heavy_engine.db import Database
from heavy_engine.jobs import Job, JobSpec, JobStore
from heavy_engine.testing import fake_config


def m(text: str, ts: str, bot: bool = False, author: str = "") -> ChatMessage:
    return ChatMessage(text, ts, is_bot=bot, author=author)


@pytest.mark.parametrize(("messages", "before", "expected"), [
    # nothing earlier: no context at all
    ([], None, None),
    # blank messages (a file with no text) are left out
    ([m("  ", "1.0")], None, None),
    # oldest first, whatever order the adapter passes them in; heavy's own answers labelled
    ([m("second", "1700000002.000200", bot=True), m("first", "1700000001.000100")], None,
     f"{DM_HEADER}\nUser: first\nheavy: second"),
    # Slack ts compare as decimals, not as text ("10.0" after "9.0")
    ([m("b", "10.0"), m("a", "9.0")], None, f"{DM_HEADER}\nUser: a\nUser: b"),
    # Discord snowflakes beyond float precision keep their order
    ([m("b", "1180000000000000002"), m("a", "1180000000000000001")], None,
     f"{DM_HEADER}\nUser: a\nUser: b"),
    # `before` drops the current message and anything after it
    ([m("old", "1.0"), m("now", "2.0"), m("later", "3.0")], "2.0", f"{DM_HEADER}\nUser: old"),
    # whitespace and newlines inside a message fold into one line
    ([m("a\n\n  b", "1.0")], None, f"{DM_HEADER}\nUser: a b"),
])
def test_dm_context(messages: list[ChatMessage], before: str | None,
                    expected: str | None) -> None:
    assert dm_context(messages, before=before) == expected


def test_only_the_last_20_messages_are_kept() -> None:
    messages = [m(f"message {i}", str(i)) for i in range(30)]
    text = dm_context(messages)
    assert text is not None
    lines = text.splitlines()[1:]
    assert len(lines) == 20
    assert lines[0] == "User: message 10" and lines[-1] == "User: message 29"


def test_the_total_stays_under_6000_characters_keeping_the_newest() -> None:
    messages = [m(f"{i:02d} " + "x" * 1000, str(i)) for i in range(12)]
    text = dm_context(messages)
    assert text is not None and len(text) <= 6000
    lines = text.splitlines()[1:]
    assert len(lines) == 5  # 5 lines of ~1,009 characters fit, a 6th does not
    assert lines[-1].startswith("User: 11 ") and lines[0].startswith("User: 07 ")


def test_one_long_message_is_cut_to_1500_characters() -> None:
    text = dm_context([m("y" * 5000, "1")])
    assert text is not None
    line = text.splitlines()[1]
    assert len(line) == len("User: ") + 1500 and line.endswith("…")  # the text, not the label


def test_a_newest_message_longer_than_the_bound_keeps_its_start() -> None:
    text = conversation_context([m("z" * 500, "1")], "h", max_chars=100)
    assert text is not None and len(text) <= 100 and text.startswith("h\nUser: zzz")


def test_reply_chain_names_authors() -> None:
    chain = [m("Answer one", "3", bot=True), m("what about X?", "2", author="ana"),
             m("hi", "1", author="bob")]
    assert reply_chain_context(chain) == (
        f"{CHAIN_HEADER}\nbob: hi\nana: what about X?\nheavy: Answer one")


async def test_recent_exchanges_read_the_jobs_table(tmp_path: Path) -> None:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    try:
        store = JobStore(db, fake_config("http://127.0.0.1:1/v1"))
        start = datetime(2026, 11, 30, 12, tzinfo=UTC)
        rows = [("q1", "a1", "D1", None, "done"), ("q2", "a2", "D1", "t1", "done"),
                ("q3", None, "D1", None, "failed"), ("q4", "a4", "D2", None, "done"),
                ("q5", "a5", "D1", "t1", "done")]
        for i, (q, a, channel, thread, status) in enumerate(rows):
            job = Job(id=f"j{i}", spec=JobSpec("slack", "T1", channel, "U1", q, thread=thread),
                      config=store.fallback_config, status=status,  # type: ignore[arg-type]
                      created_at=start + timedelta(minutes=i),
                      finished_at=start + timedelta(minutes=i, seconds=30))
            if a is not None:
                job.result = RunResult(request_id=job.id, question=q, answer=a)
            await store.insert(job)
        dm = await recent_exchanges(db, "slack", "T1", "D1")
        assert [(x.text, x.is_bot) for x in dm] == [
            ("q1", False), ("a1", True), ("q2", False), ("a2", True), ("q5", False),
            ("a5", True)]
        assert dm_context(dm) == f"{DM_HEADER}\nUser: q1\nheavy: a1\nUser: q2\nheavy: a2\n" \
                                 "User: q5\nheavy: a5"
        thread = await recent_exchanges(db, "slack", "T1", "D1", thread="t1", limit=1)
        assert [x.text for x in thread] == ["q5", "a5"]
    finally:
        await db.close()
