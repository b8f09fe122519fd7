"""One answer plan for every platform: split without breaking code fences, cap the number of
parts, attach the full answer as a file when it is too long. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from ..text import split_markdown


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """A platform's limits for answer messages."""

    part_chars: int  # characters in one part
    max_parts: int  # more parts than this read as spam: cut, and attach the whole answer
    attach_over: int | None = None  # attach the whole answer beyond this length anyway
    head_chars: int | None = None  # part size when cut (default `part_chars`)
    head_parts: int = 1  # parts kept when cut


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    parts: list[str]  # at least one
    attach: bool  # the full answer also goes as a file
    cut: bool  # `parts` hold only the head: the platform says where the rest is


def plan_answer(text: str, limits: AnswerLimits, *, empty: str = "(empty answer)") -> AnswerPlan:
    """The parts to post for `text` (already in the platform's markup)."""
    parts = split_markdown(text, limits.part_chars) or [empty]
    attach = limits.attach_over is not None and len(text) > limits.attach_over
    if len(parts) <= limits.max_parts:
        return AnswerPlan(parts, attach, cut=False)
    head = split_markdown(text, limits.head_chars or limits.part_chars)[: limits.head_parts]
    return AnswerPlan(head, attach=True, cut=True)
