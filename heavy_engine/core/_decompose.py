"""Turning the orchestrator's reply into exactly N usable sub-questions. Pure functions."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)

# Angles for padding; each keeps the user's question whole so any N works.
_ANGLES = (
    "Answer this directly and thoroughly: {q}",
    "What are the key facts, figures and evidence relevant to this question: {q}",
    "What are the strongest alternative views, risks and counter-arguments on this question: {q}",
    "Fact-check and verify the most likely answers to this question: {q}",
    "What practical recommendations or next steps follow from this question: {q}",
    "What historical or broader context matters for this question: {q}",
    "What are the edge cases, exceptions and common misconceptions about this question: {q}",
    "How would an expert critic evaluate the usual answers to this question: {q}",
)


def _extract_json(text: str) -> Any:
    text = text.strip()
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if start != -1 and end > start:
            candidates.append(text[start : end + 1])
    for cand in candidates:
        try:
            return json.loads(cand)
        except ValueError:
            continue
    return None


def parse_questions(text: str) -> list[str]:
    """Sub-questions found in the reply: `{"questions": [...]}` or a bare list; may be empty."""
    data = _extract_json(text)
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if isinstance(item, dict):
            item = item.get("question") or item.get("text")
        if isinstance(item, str) and (q := " ".join(item.split())):
            out.append(q[:1000])
    return out


def fallback_questions(question: str, n: int) -> list[str]:
    """N distinct sub-questions that need no model."""
    out = []
    for i in range(n):
        angle = _ANGLES[i % len(_ANGLES)].format(q=question)
        out.append(angle if i < len(_ANGLES) else f"{angle} (perspective {i + 1})")
    return out


_PUNCTUATION = re.compile(r"\W+")
_LETTERS = re.compile(r"[^\W\d_]+")
# Scripts written without spaces: each character counts as a word.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _words(text: str) -> int:
    return sum(max(1, len(_CJK.findall(run))) for run in _LETTERS.findall(text))


def is_question(text: str) -> bool:
    """A question in words: three words or more, or two ending in a question mark.

    Weak models answer the decomposition with section numbers (`"1.1"`) or bare keywords
    (`"PostgreSQL"`); an agent given one of those researches nothing in particular.
    """
    words = _words(text)
    return words >= 3 or (words >= 2 and text.rstrip().endswith(("?", "？")))


def _key(question: str) -> str:
    return _PUNCTUATION.sub(" ", question.lower()).strip()


def usable_questions(found: list[str]) -> tuple[list[str], list[str]]:
    """The sub-questions worth an agent, in order, and the ones dropped: not a question in
    words (see `is_question`), or a repeat of an earlier one ignoring case and punctuation."""
    seen: set[str] = set()
    kept, dropped = [], []
    for q in found:
        key = _key(q)
        if key in seen or not is_question(q):
            dropped.append(q)
            continue
        seen.add(key)
        kept.append(q)
    return kept, dropped


def normalise_questions(found: list[str], question: str, n: int) -> tuple[list[str], bool]:
    """Drop unusable sub-questions, trim to N and pad with the question itself from distinct
    angles (`fallback_questions`); True when padding was needed."""
    unique, _ = usable_questions(found)
    padded = len(unique) < n
    seen = {_key(q) for q in unique}
    for extra in fallback_questions(question, n + len(unique)):
        if len(unique) >= n:
            break
        if _key(extra) not in seen:
            unique.append(extra)
    return unique[:n], padded


def bound_questions(found: list[str], question: str, most: int) -> tuple[list[str], bool]:
    """`agents: auto`: the usable sub-questions cut to `most`, never padded.

    None usable: the question itself, as one agent's (True: the fallback was used).
    """
    kept, _ = usable_questions(found)
    return (kept[:most], False) if kept else ([question], True)
