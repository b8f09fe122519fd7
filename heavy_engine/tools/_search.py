"""`web_search`: DuckDuckGo's HTML endpoint through httpx, parsed into title, URL and snippet.

No SSRF guard here on purpose: the endpoint is fixed by the operator (a constructor argument,
not a per-channel setting), and the model controls only the form-encoded query, never the host
or path. Result URLs go back to the model as text; reading one goes through `fetch_url`, which
checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import BaseModel, Field

from ._base import Tool, ToolContext, ToolFailed
from ._html import BoundedParser, ParseStopped

DDG_HTML_URL = "https://html.duckduckgo.com/html/"
MAX_RESPONSE_BYTES = 2_000_000
# A results page parses in ~10 ms; the parse runs on the event loop, so a pathological page
# (see _html.py) must stop well before it holds up the other agents.
PARSE_BUDGET_S = 0.5
_HEADERS = {"User-Agent": "Mozilla/5.0 (compatible; heavy-bot/0.1)", "Accept": "text/html"}


@dataclass(slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str


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
        raise ToolFailed("web search failed: the results page took too long to read") from None
    organic = [
        r for r in parser.results
        if r.title and r.url.startswith(("http://", "https://")) and "duckduckgo.com/y.js" not in r.url
    ]
    return organic[:limit]


def format_results(query: str, results: list[SearchResult]) -> str:
    if not results:
        return f"No results for {query!r}."
    lines = [f"Results for {query!r}:"]
    for i, r in enumerate(results, 1):
        lines.append(f"\n{i}. {r.title}\n   {r.url}" + (f"\n   {r.snippet}" if r.snippet else ""))
    return "\n".join(lines)


class _Params(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="What to search the web for.")
    max_results: int | None = Field(
        default=None, ge=1, le=20, description="How many results (capped by the operator)."
    )


class WebSearch(Tool):
    name = "web_search"
    description = (
        "Search the web (DuckDuckGo) and return the top results with title, URL and snippet. "
        "Use fetch_url to read a result."
    )
    Params = _Params

    def __init__(self, base_url: str = DDG_HTML_URL, timeout: float = 15.0) -> None:
        self.base_url = base_url
        self.timeout = timeout

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        limit = min(params.max_results or ctx.settings.web_search_max_results,
                    ctx.settings.web_search_max_results)
        html = await self._search_page(params.query)
        return format_results(params.query, parse_results(html, limit))

    async def _search_page(self, query: str) -> str:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, headers=_HEADERS) as client:
                async with client.stream("POST", self.base_url, data={"q": query}) as resp:
                    if resp.status_code != 200:
                        raise ToolFailed(
                            f"web search failed: DuckDuckGo answered HTTP {resp.status_code}"
                            + (" (rate limited; try again later)" if resp.status_code in (202, 429)
                               else "")
                        )
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE_BYTES:
                            raise ToolFailed("web search failed: the results page is too large")
                    return body.decode(resp.encoding or "utf-8", errors="replace")
        except httpx.ConnectError:
            raise ToolFailed("web search is unavailable (no network connection)") from None
        except httpx.TimeoutException:
            raise ToolFailed("web search timed out") from None
        except httpx.HTTPError as err:
            raise ToolFailed(f"web search failed ({type(err).__name__})") from None
