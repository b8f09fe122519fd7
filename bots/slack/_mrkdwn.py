"""Standard Markdown (what models write) to Slack mrkdwn. Pure functions.

Invariant: text that came from a model can never ping anyone. `&`, `<` and `>` are escaped before
any Slack syntax is generated, so `<!channel>` arrives as visible text, and bare `@here`-style
words get a word joiner so Slack does not turn them into broadcasts either.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_TASK = re.compile(r"^\[([ xX])\]\s+")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^(\s*)>\s?(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_WORD_JOINER = "\u2060"

# Inline rules, applied to escaped text outside code spans, in this order.
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^)]*\")?\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^)]*\")?\)")
_AUTOLINK = re.compile(r"&lt;(https?://[^\s&]+)&gt;")
_BOLD_ITALIC = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BOLD_MARK = "\x00"  # stands for `*` until italics are done, so `**` never reads as italic


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise_broadcasts(text: str) -> str:
    """`@channel`, `@here`, `@everyone` as plain words that notify nobody."""
    return _BROADCAST.sub(lambda m: f"@{_WORD_JOINER}{m.group(1)}", text)


def safe_text(text: str) -> str:
    """Untrusted text shown verbatim (questions, tool arguments, errors) in mrkdwn."""
    return neutralise_broadcasts(escape(text))


def _link(url: str, label: str) -> str:
    # `|` and `>` would end Slack's link syntax early; a URL never needs them raw.
    url = url.replace("|", "%7C")
    label = label.replace("|", "¦")
    return f"<{url}|{label}>" if label and label != url else f"<{url}>"


def _inline(text: str) -> str:
    """Inline Markdown to mrkdwn for one escaped line, leaving `code spans` untouched."""
    parts = re.split(r"(`+[^`]*`+)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a code span: Slack renders backticks the same way
            out.append(part)
            continue
        part = _IMAGE.sub(lambda m: _link(m.group(2), m.group(1) or "image"), part)
        part = _LINK.sub(lambda m: _link(m.group(2), m.group(1)), part)
        part = _AUTOLINK.sub(lambda m: _link(m.group(1), ""), part)
        part = _BOLD_ITALIC.sub(lambda m: f"{_BOLD_MARK}_{m.group(1)}_{_BOLD_MARK}", part)
        part = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", part)
        part = _ITALIC_STAR.sub(r"_\1_", part)
        part = _STRIKE.sub(r"~\1~", part)
        out.append(part.replace(_BOLD_MARK, "*"))
    return "".join(out)


def _plain_cell(cell: str) -> str:
    """Table cells go into a code block, where markup would show raw: drop the markers."""
    cell = re.sub(r"(\*\*|__|~~|`)", "", cell.strip())
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", cell)


def _cells(row: str) -> list[str]:
    row = row.strip()
    row = row.removeprefix("|").removesuffix("|")
    return [_plain_cell(c) for c in re.split(r"(?<!\\)\|", row)]


def table_to_monospace(rows: list[str]) -> list[str]:
    """A Markdown table (header, separator, body) as an aligned code block; Slack shows raw
    pipes otherwise."""
    header = _cells(rows[0])
    body = [_cells(r) for r in rows[2:]]
    ncols = max(len(header), *(len(r) for r in body)) if body else len(header)
    grid = [r + [""] * (ncols - len(r)) for r in [header, *body]]
    widths = [max(len(r[c]) for r in grid) for c in range(ncols)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(grid[0]), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in grid[1:]]
    return ["```", *(safe_text(x) for x in lines), "```"]


def _is_table_start(lines: list[str], i: int) -> bool:
    return (
        i + 1 < len(lines)
        and "|" in lines[i]
        and _TABLE_SEP.match(lines[i + 1]) is not None
        and "|" in lines[i + 1]
    )


def markdown_to_mrkdwn(text: str) -> str:
    """Headings, emphasis, links, lists, quotes, code fences and tables, as Slack shows them."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if fence is not None:
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                out.append("```")
                fence = None
            else:
                out.append(safe_text(line))
            i += 1
            continue
        m = _FENCE.match(line)
        if m:
            fence = m.group(1)  # Slack has no syntax highlighting: the language is dropped
            out.append("```")
            i += 1
            continue
        if _is_table_start(lines, i):
            end = i + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            out.extend(table_to_monospace(lines[i:end]))
            i = end
            continue
        out.append(_block_line(line))
        i += 1
    if fence is not None:
        out.append("```")  # an unterminated fence would swallow the footer
    return neutralise_broadcasts("\n".join(out))


def _block_line(line: str) -> str:
    """One line outside code: block syntax first, then inline syntax."""
    if _RULE.match(line):
        return "──────────"
    m = _HEADING.match(line)
    if m:
        title = re.sub(r"(\*\*|__)", "", m.group(1))
        return f"*{_inline(escape(title))}*" if title else ""
    m = _QUOTE.match(line)
    if m:
        # `>` must stay raw at the start of the line: escaped, Slack would not quote.
        return f"{m.group(1)}>{' ' if m.group(2) else ''}{_block_line(m.group(2))}"
    m = _BULLET.match(line)
    if m:
        indent, item = m.groups()
        item = _TASK.sub(lambda t: "☑ " if t.group(1) in "xX" else "☐ ", item)
        return f"{'    ' * (len(indent) // 2)}• {_inline(escape(item))}"
    return _inline(escape(line))
