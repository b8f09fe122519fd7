"""Platform-neutral text helpers for front ends: splitting long Markdown, the answer footer.

Pure functions. Platform syntax (Slack mrkdwn, Discord embeds, mention escaping) belongs to the
adapters; what every platform shares lives here so it is written once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .core import RunResult, sources_section

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_MIN_LIMIT = 40


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
    )


def _hard_wrap(line: str, width: int) -> list[str]:
    """Cut an over-long line, at a space when there is one in the second half."""
    out = []
    while len(line) > width:
        cut = line.rfind(" ", width // 2, width)
        cut = cut if cut > 0 else width
        out.append(line[:cut])
        line = line[cut:].lstrip(" ") if cut < width else line[cut:]
    out.append(line)
    return out


def split_markdown(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters.

    Breaks at blank lines (paragraphs) when possible, else at line ends, else inside a line.
    Never leaves a code fence unbalanced: a fence cut in two is closed at the end of one chunk
    and reopened, with its language, at the start of the next.
    """
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")
    text = text.strip("\n")
    if len(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    cur: list[str] = []
    size = 0  # len("\n".join(cur))
    fence: str | None = None  # the fence marker while inside a code block
    opener = ""  # the line that opened it, to reopen in the next chunk
    last_break = 0  # index in cur after which a split leaves fences balanced

    def cost(lines_size: int, n: int, line: str) -> int:
        return lines_size + (1 if n else 0) + len(line)

    def flush(carry: list[str]) -> None:
        body = "\n".join(cur).strip("\n")
        if body.strip():
            chunks.append(body)
        cur[:] = carry
        nonlocal size
        size = len("\n".join(cur))

    for raw in text.split("\n"):
        reserve = len(fence) + 1 if fence else 0
        width = max(limit - reserve - len(opener) - 2, _MIN_LIMIT // 2)
        for line in _hard_wrap(raw, width):
            # What closing the current fence would add if we had to cut after this line.
            tail = len(fence) + 1 if fence and not _closes(line, fence) else 0
            if cost(size, len(cur), line) + tail > limit and cur:
                if 0 < last_break < len(cur):  # prefer the last paragraph or fence boundary
                    carry = cur[last_break:]
                    del cur[last_break:]
                    while carry and not carry[0].strip():
                        carry.pop(0)
                    flush(carry)
                if cost(size, len(cur), line) + tail > limit and cur:
                    if fence is not None:
                        cur.append(fence)
                        flush([opener])
                    else:
                        flush([])
                last_break = 0
            size = cost(size, len(cur), line)
            cur.append(line)
            if fence is None:
                m = _FENCE_OPEN.match(line)
                if m:
                    fence, opener = m.group(1), line
                elif not line.strip():
                    last_break = len(cur)
            elif _closes(line, fence):
                fence, opener = None, ""
                last_break = len(cur)
    if fence is not None and cur and cur[-1] != opener:
        # An unterminated fence in the input: close it so the last chunk renders sanely.
        cur.append(fence)
    flush([])
    return chunks


def transcript(
    turns: Sequence[tuple[str, str]],
    *,
    source: str,
    max_messages: int = 20,
    max_chars: int = 6000,
    per_message_chars: int = 1500,
) -> str | None:
    """Earlier `(speaker, text)` turns, oldest first, as bounded context for the model.

    Blank turns are skipped and each turn becomes one line. When the turns do not all fit, the
    newest are kept and the header says how many older ones were left out. None when empty.
    """
    kept = [(who, " ".join(text.split())) for who, text in turns]
    kept = [(who, text) for who, text in kept if text]
    lines: list[str] = []
    used = 0
    for who, text in reversed(kept[-max_messages:]):
        if len(text) > per_message_chars:
            text = text[:per_message_chars] + " [...]"
        line = f"[{who}] {text}"
        if used + len(line) > max_chars:
            break
        lines.append(line)
        used += len(line) + 1
    if not lines:
        return None
    head = f"Earlier messages in this {source}, oldest first"
    if omitted := len(kept) - len(lines):
        head += f" ({omitted} older message{'s' * (omitted != 1)} left out)"
    return head + ":\n" + "\n".join(reversed(lines))


def footer(result: RunResult) -> str:
    """One line for under an answer: models, agents, time, tokens (and how many of the prompt
    tokens came from the provider's cache, when any did), cost."""
    ok = sum(a.status == "ok" for a in result.agents)
    tokens = result.usage.prompt_tokens + result.usage.completion_tokens
    cached = result.usage.cached_tokens
    parts = [
        ", ".join(result.models) or "no model",
        f"{ok}/{len(result.agents)} agents",
        f"{result.elapsed_s:.1f}s",
        f"{tokens:,} tokens" + (f" ({cached:,} cached)" if cached else ""),
        f"${result.usage.cost_usd:.4f}",
    ]
    if result.simulated and "simulated" not in result.models:  # said once is enough
        parts.append("simulated")
    return " · ".join(parts)


def answer_body(result: RunResult) -> str:
    """The answer without its trailing Sources list, for front ends that render sources natively
    (Slack's URL-sources element, a Discord embed field); the budget note stays in the text."""
    section = sources_section(result.sources)
    if section and result.answer.endswith(section):
        return result.answer[: -len(section)].rstrip()
    return result.answer


def source_links(result: RunResult, limit: int = 10) -> list[tuple[str, str]]:
    """`(title, url)` pairs of the run's sources, at most `limit`, titles one line of <=100 chars."""
    out = []
    for src in result.sources[:limit]:
        title = " ".join((src.title or src.url).split())
        out.append((title if len(title) <= 100 else title[:99] + "…", src.url))
    return out


def sources_text(result: RunResult, limit: int = 10) -> str:
    """One Markdown line per source (`1. [title](url)`), for an embed field or a plain list."""
    return "\n".join(f"{i}. [{t}]({u})" for i, (t, u) in enumerate(source_links(result, limit), 1))


def run_notes(result: RunResult) -> list[str]:
    """Short notes to show under an answer: agents lost, quorum cut-offs, a budget stop."""
    return list(dict.fromkeys(result.notes))

__all__ = ["answer_body", "footer", "run_notes", "source_links", "sources_text", "split_markdown", "transcript"]
