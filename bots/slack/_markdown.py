"""Answers as Slack renders Markdown itself: `markdown` blocks, and `table` blocks for tables.
Pure functions; the successor of the regex mrkdwn converter it replaced.

Invariants:
- model text can never ping: Slack's `<!here>` / `<@U1>` / `<#C1>` syntax and bare
  `@channel`, `@here`, `@everyone` get a word joiner, outside and inside code alike;
- a message holds at most one table (Slack's rule) and the table ends its message, so the
  order of the answer is kept; a code fence is never cut open (`split_markdown`);
- each `markdown` block stays under Slack's 12,000 characters, and the whole message too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from heavy_engine.text import split_markdown

Blocks = list[dict[str, Any]]

MARKDOWN_CHARS = 11_000  # one markdown block (Slack: 12,000; the whole message near 13.2k)
MAX_MESSAGES = 4  # beyond this, attach the full answer as a file with a summary
SUMMARY_CHARS = 1500
FALLBACK_CHARS = 300  # the notification text of a message (the blocks carry the content)
TABLE_ROWS = 100  # Slack's table block: 100 rows (header included), 20 columns
TABLE_COLUMNS = 20
CELL_CHARS = 500
CONTEXT_CHARS = 3000  # one mrkdwn element of a context block
FEEDBACK_ACTION = "heavy_feedback"

_WORD_JOINER = "\u2060"
_BROADCAST = re.compile(r"(?<![\w.])@(channel|here|everyone)\b", re.IGNORECASE)
_CONTROL = re.compile(r"<(?=[!@#])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def neutralise(text: str) -> str:
    """Markdown that cannot notify anyone: Slack's control syntax and broadcast words broken
    by an invisible word joiner (the text reads the same)."""
    text = _CONTROL.sub("<" + _WORD_JOINER, text)
    return _BROADCAST.sub(lambda m: f"@{_WORD_JOINER}{m.group(1)}", text)


def safe_mrkdwn(text: str) -> str:
    """Untrusted text shown verbatim inside our own mrkdwn (context blocks, notes)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{_WORD_JOINER}{m.group(1)}", text)


def plain_cell(cell: str) -> str:
    """A table cell as raw text: emphasis and link markup dropped, bounded."""
    cell = re.sub(r"(\*\*|__|~~|`)", "", cell.strip())
    cell = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", cell)
    cell = cell.replace("\\|", "|")
    return cell if len(cell) <= CELL_CHARS else cell[: CELL_CHARS - 1] + "…"


def _cells(row: str) -> list[str]:
    row = row.strip().removeprefix("|").removesuffix("|")
    return [plain_cell(c) for c in re.split(r"(?<!\\)\|", row)]


def _alignment(separator: str) -> list[str]:
    out = []
    for cell in separator.strip().removeprefix("|").removesuffix("|").split("|"):
        cell = cell.strip()
        out.append("center" if cell.startswith(":") and cell.endswith(":")
                   else "right" if cell.endswith(":") else "left")
    return out


def table_block(lines: list[str]) -> dict[str, Any] | None:
    """A Markdown table (header, separator, rows) as Slack's `table` block; None when it is
    beyond the block's limits (the caller keeps it as text)."""
    rows = [_cells(lines[0]), *(_cells(r) for r in lines[2:])]
    width = max(len(r) for r in rows)
    if width > TABLE_COLUMNS or len(rows) > TABLE_ROWS:
        return None
    grid = [r + [""] * (width - len(r)) for r in rows]
    align = (_alignment(lines[1]) + ["left"] * width)[:width]
    return {
        "type": "table",
        "column_settings": [{"align": a, "is_wrapped": True} for a in align],
        "rows": [[{"type": "raw_text", "text": neutralise(c)} for c in r] for r in grid],
    }


def _is_table_start(lines: list[str], i: int) -> bool:
    return (i + 1 < len(lines) and "|" in lines[i] and "|" in lines[i + 1]
            and _TABLE_SEP.match(lines[i + 1]) is not None)


def segments(markdown: str) -> list[str | list[str]]:
    """The answer as text runs (str) and tables (their lines), in order. Tables inside code
    fences stay text."""
    lines = markdown.replace("\r\n", "\n").split("\n")
    out: list[str | list[str]] = []
    text: list[str] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line.strip() and set(line.strip()) == {fence[0]} \
                and len(line.strip()) >= len(fence):
            fence = None
        elif fence is None and _is_table_start(lines, i):
            end = i + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            if "\n".join(text).strip():
                out.append("\n".join(text).strip("\n"))
            text = []
            out.append(lines[i:end])
            i = end
            continue
        text.append(line)
        i += 1
    if "\n".join(text).strip():
        out.append("\n".join(text).strip("\n"))
    return out


@dataclass(slots=True)
class Message:
    text: str  # the notification fallback
    blocks: Blocks = field(default_factory=list)


@dataclass(slots=True)
class MarkdownPlan:
    """What to post: messages of blocks, and the Markdown to attach when it is too long."""

    messages: list[Message]
    attachment: str | None = None


def _fallback(markdown: str) -> str:
    text = " ".join(neutralise(markdown).split())
    return text if len(text) <= FALLBACK_CHARS else text[: FALLBACK_CHARS - 1] + "…"


def _messages(markdown: str, limit: int) -> list[Message]:
    messages: list[Message] = []
    current = Message("")
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current.blocks:
            messages.append(current)
        current, size = Message(""), 0

    for segment in segments(markdown):
        if isinstance(segment, list):
            block = table_block(segment)
            if block is None:  # too big for a table block: keep it readable as code
                segment = "```\n" + "\n".join(segment) + "\n```"
            else:
                current.blocks.append(block)
                current.text = current.text or _fallback("\n".join(segment))
                flush()  # one table per message, and it ends the message
                continue
        for chunk in split_markdown(segment, limit):
            if size and size + len(chunk) > limit:
                flush()
            current.blocks.append({"type": "markdown", "text": neutralise(chunk)})
            current.text = current.text or _fallback(chunk)
            size += len(chunk)
    flush()
    return messages


def markdown_plan(markdown: str, *, footer: str | None = None, filename: str = "answer.md",
                  limit: int = MARKDOWN_CHARS, max_messages: int = MAX_MESSAGES,
                  tail: Blocks | None = None) -> MarkdownPlan:
    """The messages that post `markdown` as Slack renders it; the last one carries `footer`
    (a context line), then `tail` (sources, feedback). More than `max_messages`: a summary,
    and the answer as `filename`."""
    messages = _messages(markdown, limit) or [
        Message("(empty answer)", [{"type": "markdown", "text": "_(empty answer)_"}])]
    attachment = None
    if len(messages) > max_messages:
        summary = split_markdown(markdown, SUMMARY_CHARS)[0]
        note = (f"\n\n_The full answer ({len(markdown):,} characters) is attached as "
                f"`{filename}`._")
        messages = [Message(_fallback(summary),
                            [{"type": "markdown", "text": neutralise(summary) + note}])]
        attachment = markdown
    if footer:
        messages[-1].blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": safe_mrkdwn(footer)}]})
    messages[-1].blocks.extend(tail or [])
    return MarkdownPlan(messages, attachment)


def _link(title: str, url: str) -> str:
    """A mrkdwn link whose parts cannot break out of `<url|title>`."""
    url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    return f"<{url}|{safe_mrkdwn(title).replace('|', '¦')}>"


def sources_block(links: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The run's sources as one compact context block (`Sources: 1. title · 2. title`);
    None without sources. Only http(s) URLs become links."""
    items = [f"{i}. " + (_link(t, u) if u.startswith(("http://", "https://"))
                         else safe_mrkdwn(t))
             for i, (t, u) in enumerate(links, 1)]
    if not items:
        return None
    text = "*Sources:* "
    for item in items:  # a context element takes 3,000 characters
        if len(text) + len(item) + 3 > CONTEXT_CHARS:
            break
        text += ("" if text.endswith(" ") else " · ") + item
    return {"type": "context", "block_id": "heavy_sources",
            "elements": [{"type": "mrkdwn", "text": text}]}


def feedback_block(job_id: str) -> dict[str, Any]:
    """Slack's thumbs up / down under an answer; the value names the job (checked on press)."""
    return {
        "type": "context_actions",
        "block_id": "heavy_feedback",
        "elements": [{
            "type": "feedback_buttons",
            "action_id": FEEDBACK_ACTION,
            "positive_button": {"text": {"type": "plain_text", "text": "Good answer"},
                                "accessibility_label": "This answer was helpful",
                                "value": f"good:{job_id}"},
            "negative_button": {"text": {"type": "plain_text", "text": "Bad answer"},
                                "accessibility_label": "This answer was not helpful",
                                "value": f"bad:{job_id}"},
        }],
    }


def parse_feedback(value: str) -> tuple[str, str] | None:
    """`good:<job>` / `bad:<job>` -> (value, job id); None for anything else."""
    kind, _, job_id = value.partition(":")
    if kind not in ("good", "bad") or not re.fullmatch(r"[\w-]{1,64}", job_id):
        return None
    return kind, job_id
