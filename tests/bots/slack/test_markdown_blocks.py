"""Answers as `markdown` and `table` blocks (bots/slack/_markdown.py). Pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from bots.slack._markdown import (
    MARKDOWN_CHARS,
    TABLE_ROWS,
    markdown_plan,
    neutralise,
    safe_mrkdwn,
    segments,
    table_block,
)

WJ = "\u2060"
TABLE = "| Tool | Cost |\n| :--- | ---: |\n| **SQLite** | free |\n| [Postgres](https://x.org) | free |"


def _types(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["type"] for b in blocks]


@pytest.mark.parametrize(("text", "expected"), [
    ("ping @here now", f"ping @{WJ}here now"),  # bare broadcast words notify nobody
    ("@Channel and @EVERYONE", f"@{WJ}Channel and @{WJ}EVERYONE"),  # any case
    ("<!channel> <!here|here>", f"<{WJ}!channel> <{WJ}!here|here>"),  # Slack's own syntax
    ("<@U123> and <#C123>", f"<{WJ}@U123> and <{WJ}#C123>"),  # users and channels too
    ("a < b and email@here.com", "a < b and email@here.com"),  # no false alarms
    ("`@here` in code", f"`@{WJ}here` in code"),  # inside code as well: it is still text
])
def test_neutralise(text: str, expected: str) -> None:
    assert neutralise(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a <b> & c", "a &lt;b&gt; &amp; c"),  # Slack's three control characters escaped
    ("@everyone", f"@{WJ}everyone"),
])
def test_safe_mrkdwn(text: str, expected: str) -> None:
    assert safe_mrkdwn(text) == expected


@pytest.mark.parametrize(("markdown", "shape"), [
    ("# Title\n\nPlain text.", ["text"]),  # no table: one text run
    (f"Intro\n\n{TABLE}\n\nAfter", ["text", "table", "text"]),  # order kept
    (f"```\n{TABLE}\n```", ["text"]),  # a table inside a fence stays code
    ("a | b\nnot a separator", ["text"]),  # pipes alone make no table
    (f"{TABLE}\n\n{TABLE}", ["table", "table"]),  # two tables, two segments
])
def test_segments(markdown: str, shape: list[str]) -> None:
    assert ["table" if isinstance(s, list) else "text" for s in segments(markdown)] == shape


def test_table_block_has_raw_cells_alignment_and_no_markup() -> None:
    block = table_block(TABLE.split("\n"))
    assert block is not None and block["type"] == "table"
    assert [c["align"] for c in block["column_settings"]] == ["left", "right"]
    rows = [[c["text"] for c in row] for row in block["rows"]]
    assert rows == [["Tool", "Cost"], ["SQLite", "free"], ["Postgres", "free"]]
    assert all(c["type"] == "raw_text" for row in block["rows"] for c in row)


@pytest.mark.parametrize(("rows", "fits"), [
    (TABLE_ROWS - 1, True),  # header + 99 rows: Slack's maximum of 100
    (TABLE_ROWS, False),  # one more: kept as text
])
def test_table_block_row_limit(rows: int, fits: bool) -> None:
    lines = ["| a | b |", "| - | - |".replace("-", "--"), *(["| 1 | 2 |"] * rows)]
    assert (table_block(lines) is not None) is fits


def test_short_answer_is_one_markdown_block_with_footer() -> None:
    plan = markdown_plan("**Yes.** See [docs](https://x.org).", footer="model · $0.01")
    [message] = plan.messages
    assert _types(message.blocks) == ["markdown", "context"]
    assert message.blocks[0]["text"] == "**Yes.** See [docs](https://x.org)."  # Slack renders it
    assert message.text.startswith("**Yes.**") and plan.attachment is None


def test_a_table_ends_its_message_and_the_rest_follows() -> None:
    plan = markdown_plan(f"Intro\n\n{TABLE}\n\nAfter the table.", footer="f")
    assert [_types(m.blocks) for m in plan.messages] == [
        ["markdown", "table"], ["markdown", "context"]]


def test_long_answers_split_below_the_limit_without_breaking_fences() -> None:
    code = "```python\n" + "x = 1\n" * 2500 + "```"  # ~15,000 characters in one fence
    plan = markdown_plan(code, limit=MARKDOWN_CHARS)
    texts = [b["text"] for m in plan.messages for b in m.blocks if b["type"] == "markdown"]
    assert len(texts) >= 2
    assert all(len(t) <= MARKDOWN_CHARS for t in texts)
    assert all(t.count("```") % 2 == 0 for t in texts)  # every part opens and closes


def test_too_long_becomes_a_summary_and_an_attachment() -> None:
    markdown = "\n\n".join(f"Paragraph {i}. " + "word " * 400 for i in range(30))
    plan = markdown_plan(markdown, limit=2000, max_messages=4, filename="heavy-j1.md")
    [message] = plan.messages
    assert plan.attachment == markdown
    assert "heavy-j1.md" in message.blocks[0]["text"]


def test_model_text_cannot_ping_in_blocks_fallback_or_tables() -> None:
    plan = markdown_plan("Hey @channel <!here>\n\n| a | b |\n| -- | -- |\n| @everyone | x |")
    blob = repr([(m.text, m.blocks) for m in plan.messages])
    assert "@channel" not in blob and "<!here" not in blob and "@everyone" not in blob


def test_empty_answer_still_says_something() -> None:
    [message] = markdown_plan("").messages
    assert message.blocks[0]["text"] == "_(empty answer)_"
