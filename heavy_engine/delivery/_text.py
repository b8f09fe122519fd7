"""Small text helpers every front end shares: bounded one-line sentences for users."""

from __future__ import annotations

FALLBACK = "Something went wrong while answering."


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def clip_start(text: str, limit: int) -> str:
    """The last `limit` characters of `text` (a growing text shows its newest words)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def head(text: str, room: int) -> str:
    """The start of `text` that fits `room` (plus a closing fence), cut at a line end when one
    is in the second half, with a ``` code block left open closed again."""
    if len(text) <= room:
        return text
    cut = text.rfind("\n", 0, room)
    text = text[: cut if cut > room // 2 else room]
    return text + "\n```" if text.count("```") % 2 else text


def shorten(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def failure_sentence(error: str | None, limit: int = 300) -> str:
    """The first line of an error, bounded: never a stack trace. Escaping is the caller's."""
    lines = (error or "").strip().splitlines()
    return shorten(lines[0] if lines else FALLBACK, limit)


def with_reference(sentence: str, ref: str) -> str:
    """`sentence (ref `id`)`: the id the log lines about it carry."""
    return f"{sentence} (ref `{ref}`)"
