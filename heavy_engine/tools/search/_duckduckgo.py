"""`duckduckgo`: DuckDuckGo's HTML page (no key, no API), parsed into title, URL and snippet.

The zero-configuration default, and the first to be throttled: DuckDuckGo answers a busy
address with HTTP 202 and a bot-check page (an "anomaly" form) instead of results, which is a
failure here, so the next configured back-end is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

import httpx

from ...core import SearchBackendConfig
from .._html import BoundedParser, ParseStopped
from ._backend import BackendFailed, SearchBackend, SearchResult
from ._http import THROTTLE_REST_S, fetch

DDG_HTML_URL = "https://html.duckduckgo.com/html/"
# A results page parses in ~10 ms; the parse runs on the event loop, so a pathological page
# (see _html.py) must stop well before it holds up the other agents.
PARSE_BUDGET_S = 0.5
# Markers of the bot-check page DuckDuckGo shows instead of results.
_CHALLENGE = ("anomaly-modal", "challenge-form", "/anomaly.js")


def result_url(href: str) -> str:
    """The target of a DuckDuckGo result link (unwrapping its `/l/?uddg=` redirect)."""
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    if parts.path.startswith("/l/"):
        target = parse_qs(parts.query).get("uddg")
        if target:
            return target[0]
    return href


class _ResultParser(BoundedParser):
    """Collects `a.result__a` (title, link) and the following `.result__snippet` text."""

    def __init__(self, budget_s: float) -> None:
        super().__init__(budget_s)
        self.results: list[SearchResult] = []
        self._field: str | None = None  # "title" or "snippet" while inside one
        self._tag = ""
        self._depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.check()
        if self._field is not None:
            self._depth += tag == self._tag
            return
        classes = (dict(attrs).get("class") or "").split()
        if "result__a" in classes:
            href = dict(attrs).get("href") or ""
            self.results.append(SearchResult("", result_url(href), ""))
            self._start("title", tag)
        elif "result__snippet" in classes and self.results:
            self._start("snippet", tag)

    def _start(self, field: str, tag: str) -> None:
        self._field, self._tag, self._depth, self._text = field, tag, 0, []

    def handle_endtag(self, tag: str) -> None:
        self.check()
        if self._field is None or tag != self._tag:
            return
        if self._depth:
            self._depth -= 1
            return
        text = " ".join("".join(self._text).split())
        setattr(self.results[-1], self._field, text)
        self._field = None

    def handle_data(self, data: str) -> None:
        self.check()
        if self._field is not None:
            self._text.append(data)


def parse_results(html: str, limit: int, budget_s: float = PARSE_BUDGET_S) -> list[SearchResult]:
    """Organic results (ads dropped) from a DuckDuckGo HTML page, at most `limit`."""
    parser = _ResultParser(budget_s)
    try:
        parser.feed(html)
        parser.close()
    except ParseStopped:
        raise BackendFailed("sent a results page that took too long to read") from None
    organic = [
        r for r in parser.results
        if r.title and r.url.startswith(("http://", "https://")) and "duckduckgo.com/y.js" not in r.url
    ]
    return organic[:limit]


class DuckDuckGo(SearchBackend):
    """POST the form field `q` to the HTML endpoint; `base_url` is that endpoint, as written."""

    name = "duckduckgo"
    default_base_url = DDG_HTML_URL

    def __init__(self, config: SearchBackendConfig, env: Mapping[str, str]) -> None:
        super().__init__(config, env)
        self.endpoint = config.base_url or DDG_HTML_URL  # /html without its slash redirects

    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        request = client.build_request("POST", self.endpoint, data={"q": query},
                                       headers={"Accept": "text/html"})
        status, content_type, body = await fetch(client, request)
        page = body.decode(_charset(content_type), errors="replace")
        if status == 202 or any(marker in page for marker in _CHALLENGE):
            raise BackendFailed(f"throttled: answered a bot-check page, HTTP {status}",
                                rest_s=THROTTLE_REST_S)
        return parse_results(page, limit)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    return "utf-8"
