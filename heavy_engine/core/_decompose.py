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


def _unique(found: list[str]) -> list[str]:
    """The sub-questions in order, without repeats (ignoring case and punctuation)."""
    seen: set[str] = set()
    unique = []
    for q in found:
        key = _PUNCTUATION.sub(" ", q.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            unique.append(q)
    return unique


def normalise_questions(found: list[str], question: str, n: int) -> tuple[list[str], bool]:
    """De-duplicate, trim to N and pad from the fallback; True when padding was needed."""
    unique = _unique(found)
    padded = len(unique) < n
    for extra in fallback_questions(question, n):
        if len(unique) >= n:
            break
        unique.append(extra)
    return unique[:n], padded


def bound_questions(found: list[str], question: str, most: int) -> tuple[list[str], bool]:
    """`agents: auto`: the model's sub-questions de-duplicated and cut to `most`, never padded.

    None usable: the question itself, as one agent's (True: the fallback was used).
    """
    kept = _unique(found)
    return (kept[:most], False) if kept else ([question], True)
