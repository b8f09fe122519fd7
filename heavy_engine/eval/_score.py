"""Scoring one answer: exact and normalised match against the gold answers, source hits. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ..core import url_key

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")
_SOURCES = re.compile(r"\n\*\*Sources\*\*\n.*\Z", re.S)


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation or articles, digits' thousands separators joined."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d)[,\u202f ](?=\d{3}\b)", "", text)
    text = _PUNCT.sub(" ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(answer: str, golds: Iterable[str]) -> bool:
    """The whole answer (without its Sources list) is one of the gold answers, normalised."""
    body = normalise(_SOURCES.sub("", answer))
    return any(body == normalise(g) for g in golds)


def normalised_match(answer: str, golds: Iterable[str]) -> bool:
    """Some gold answer appears in the answer (without its Sources list) as whole words."""
    body = f" {normalise(_SOURCES.sub('', answer))} "
    return any(f" {normalise(g)} " in body for g in golds if normalise(g))


def source_hits(sources: Iterable[str], gold: Iterable[str]) -> tuple[int, int]:
    """(sources that are gold documents, sources listed)."""
    wanted = {url_key(u) for u in gold}
    listed = [url_key(u) for u in sources]
    return sum(u in wanted for u in listed), len(listed)
