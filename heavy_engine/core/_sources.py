"""Sources of a run: what the tools returned, which of it was used, and honest citations.

Pure functions. A source is a URL some tool really returned: a page `fetch_url` read, or a
`web_search` result that an agent then used (fetched it or cited it). A URL the model wrote that
no tool returned is never a source; `check_citations` marks it unverified in the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# A bare URL, stopping before whitespace, angle brackets, quotes and closing brackets.
_URL = re.compile(r"https?://[^\s<>\"'`)\]]+")
# A Markdown link `[text](url)` or a bare URL; the link form wins where both match.
_LINK_OR_URL = re.compile(r"\[(?P<text>[^\]\n]*)\]\((?P<link>https?://[^\s)]+)\)|" + _URL.pattern)
_TRAILING = ".,;:!?*_"
_RESULT = re.compile(r"^\d+\. (?P<title>.+)\n {3}(?P<url>https?://\S+)$", re.M)
UNVERIFIED = " (unverified)"
SOURCES_HEADING = "**Sources**"


@dataclass(slots=True, frozen=True)
class Source:
    url: str
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "title": self.title or self.url}


def url_key(url: str) -> str:
    """The form two spellings of one URL share: no fragment, no trailing slash, host lower-case."""
    parts = urlsplit(url.strip().rstrip(_TRAILING))
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def find_urls(text: str) -> list[str]:
    """URLs written in `text`, in order, without trailing punctuation."""
    return [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text)]


def fetched_source(arguments: str, text: str) -> Source | None:
    """The page a successful `fetch_url` call read: its final URL and title from the result."""
    url = title = ""
    for line in text.splitlines()[:3]:
        if line.startswith("URL: "):
            url = line[5:].strip()
        elif line.startswith("Title: "):
            title = line[7:].strip()
    if not url:
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            return None
        url = args.get("url", "") if isinstance(args, dict) else ""
    return Source(url, title) if isinstance(url, str) and url.startswith("http") else None


def search_results(text: str) -> list[Source]:
    """The results listed in a `web_search` tool result (`1. title` then the URL)."""
    return [Source(m["url"], m["title"].strip()) for m in _RESULT.finditer(text)]


def used_sources(fetched: Iterable[Source], searched: Iterable[Source],
                 texts: Iterable[str]) -> list[Source]:
    """Fetched pages, then search results whose URL appears in `texts`; one entry per URL."""
    cited = {url_key(u) for t in texts for u in find_urls(t)}
    out: dict[str, Source] = {}
    for src in fetched:
        out.setdefault(url_key(src.url), src)
    for src in searched:
        key = url_key(src.url)
        if key in cited:
            # Keep the search result's title when the fetched page had none.
            if key in out and not out[key].title and src.title:
                out[key] = Source(out[key].url, src.title)
            out.setdefault(key, src)
    return list(out.values())


def check_citations(answer: str, returned: Iterable[str]) -> tuple[str, list[str]]:
    """`answer` with every URL no tool returned marked unverified, and those URLs.

    `returned` holds every URL a tool returned (fetched or listed by a search). Already-marked
    URLs are not marked twice.
    """
    known = {url_key(u) for u in returned}
    unverified: list[str] = []

    def mark(m: re.Match[str]) -> str:
        whole = m.group(0)
        url = m.group("link") or whole
        trail = "" if m.group("link") else url[len(url.rstrip(_TRAILING)):]
        url = url.rstrip(_TRAILING) if not m.group("link") else url
        if url_key(url) in known or answer.startswith(UNVERIFIED, m.end() - len(trail)):
            return whole
        if url not in unverified:
            unverified.append(url)
        core = whole[: len(whole) - len(trail)] if trail else whole
        return f"{core}{UNVERIFIED}{trail}"

    return _LINK_OR_URL.sub(mark, answer), unverified


def sources_section(sources: Iterable[Source]) -> str:
    """The Markdown list the answer ends with; empty when there are no sources."""
    lines = [f"{i}. [{_label(s)}]({s.url})" for i, s in enumerate(sources, 1)]
    return f"{SOURCES_HEADING}\n" + "\n".join(lines) if lines else ""


def _label(src: Source) -> str:
    title = " ".join((src.title or "").split()).replace("[", "(").replace("]", ")")
    if title:
        return title[:120]
    parts = urlsplit(src.url)
    return (parts.netloc + parts.path.rstrip("/"))[:120]
