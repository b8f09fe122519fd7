"""A thread's earlier messages as context for a follow-up question (pure formatting)."""

from __future__ import annotations

from collections.abc import Sequence

CONTEXT_LIMIT = 6000  # characters of history handed to the engine; the newest are kept
MESSAGE_LIMIT = 1500  # one message's share, so a long answer does not crowd out the rest


def format_context(turns: Sequence[tuple[str, str]], limit: int = CONTEXT_LIMIT) -> str | None:
    """`(speaker, text)` pairs, oldest first, as a transcript of at most `limit` characters.

    Older turns are dropped first; None when there is nothing worth passing on.
    """
    lines: list[str] = []
    size = 0
    for speaker, text in reversed(turns):
        text = " ".join(text.split())
        if not text:
            continue
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 1] + "…"
        line = f"{speaker}: {text}"
        if size + len(line) + 1 > limit:
            break
        lines.append(line)
        size += len(line) + 1
    if not lines:
        return None
    return "Earlier in this Discord thread:\n" + "\n".join(reversed(lines))
