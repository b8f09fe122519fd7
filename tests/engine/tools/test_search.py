"""`web_search` with the `duckduckgo` back-end against a local fake HTML endpoint, and without
any network. The other back-ends, the fallback order and the fakes of their APIs: tests/engine/
tools/search/."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from heavy_engine import SearchConfig, ToolSettings
from heavy_engine.tools import ToolContext, WebSearch, execute_tool, parse_results, result_url

from .conftest import LocalServer, Request, response


async def search(scratch: Path, endpoint: str, **args: object) -> str:
    ctx = ToolContext("req-test", scratch, ToolSettings(web_search_max_results=3),
                      search=SearchConfig(backend="duckduckgo", base_url=endpoint))
    res = await execute_tool(WebSearch(), "web_search", json.dumps(args), ctx, timeout=5)
    return res.text


async def _ddg(req: Request, w: asyncio.StreamWriter) -> None:
    assert req.method == "POST"
    w.write(response(200, DDG_PAGE.encode(), "text/html; charset=utf-8"))


async def _rate_limited(req: Request, w: asyncio.StreamWriter) -> None:
    w.write(response(202, b"<html>anomaly</html>", "text/html"))


async def test_results_have_title_url_and_snippet(scratch: Path, server: LocalServer) -> None:
    server.routes["/html/"] = _ddg
    text = await search(scratch, server.url("/html/"), query="python asyncio")
    assert text.splitlines() == [
        "Results for 'python asyncio' from duckduckgo:",
        "",
        "1. asyncio — Asynchronous I/O",
        "   https://docs.python.org/3/library/asyncio.html",
        "   asyncio is a library to write concurrent code using the async/await syntax.",
        "",
        "2. Real Python: Async IO",
        "   https://realpython.com/async-io-python/",
        "   A walkthrough & tutorial.",
        "",
        "3. Third",
        "   https://example.org/3",
    ]
    assert server.requests[0].body == b"q=python+asyncio"


async def test_max_results_cannot_exceed_the_setting(scratch: Path, server: LocalServer) -> None:
    server.routes["/html/"] = _ddg
    endpoint = server.url("/html/")
    assert (await search(scratch, endpoint, query="x", max_results=1)).count("\n   https://") == 1
    assert (await search(scratch, endpoint, query="x", max_results=20)).count("\n   https://") == 3


async def test_no_network_is_a_clear_error(scratch: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = await search(scratch, f"http://127.0.0.1:{port}/html/", query="x")
    assert text == "error: web search failed: duckduckgo: unreachable, no connection"


async def test_rate_limiting_is_reported(scratch: Path, server: LocalServer) -> None:
    server.routes["/html/"] = _rate_limited
    text = await search(scratch, server.url("/html/"), query="x")
    assert text == ("error: web search failed: duckduckgo: throttled: answered a bot-check page, "
                    "HTTP 202; resting 30 s")


def test_parse_drops_ads_and_unwraps_links() -> None:
    results = parse_results(DDG_PAGE, 10)
    assert [r.url for r in results] == [
        "https://docs.python.org/3/library/asyncio.html", "https://realpython.com/async-io-python/",
        "https://example.org/3", "https://example.org/4",
    ]
    assert result_url("https://example.com/plain") == "https://example.com/plain"


async def _pathological(req: Request, w: asyncio.StreamWriter) -> None:
    # Every '<' opens a tag that never closes: CPython's html.parser would need hours.
    w.write(response(200, b"<a " * 300_000, "text/html"))


async def test_a_results_page_that_is_slow_to_parse_is_an_error(
    scratch: Path, server: LocalServer
) -> None:
    server.routes["/html/"] = _pathological
    start, cpu = time.monotonic(), time.thread_time()
    text = await search(scratch, server.url("/html/"), query="x")
    # The parse runs on the event loop: it must stop early. Its CPU time says so whatever else
    # the machine is doing; the wall time only rules out the hours a whole parse takes.
    assert time.thread_time() - cpu < 3 and time.monotonic() - start < 30
    assert text == ("error: web search failed: duckduckgo: sent a results page that took too "
                    "long to read")


def test_no_results() -> None:
    assert parse_results("<html><body>No results.</body></html>", 5) == []


# A trimmed DuckDuckGo HTML results page: one ad, four organic results (links wrapped in /l/).
DDG_PAGE = """<!DOCTYPE html><html><body><div id="links" class="results">
<div class="result results_links results_links_deep result--ad">
  <h2 class="result__title"><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">Buy now</a></h2>
  <a class="result__snippet" href="https://duckduckgo.com/y.js?ad_domain=ads.example">An ad.</a>
</div>
<div class="result results_links results_links_deep web-result">
  <div class="links_main links_deep result__body">
    <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fdocs.python.org%2F3%2Flibrary%2Fasyncio.html&amp;rut=abc"><b>asyncio</b> — Asynchronous I/O</a></h2>
    <div class="result__extras"><a class="result__url" href="//duckduckgo.com/l/?uddg=x">docs.python.org</a></div>
    <a class="result__snippet" href="//duckduckgo.com/l/?uddg=x"><b>asyncio</b> is a library to write <b>concurrent</b> code using the async/await syntax.</a>
  </div>
</div>
<div class="result results_links results_links_deep web-result">
  <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Frealpython.com%2Fasync-io-python%2F&amp;rut=def">Real Python: Async IO</a></h2>
  <div class="result__snippet">A walkthrough &amp; <span>tutorial</span>.</div>
</div>
<div class="result web-result"><h2><a class="result__a" href="https://example.org/3">Third</a></h2></div>
<div class="result web-result"><h2><a class="result__a" href="https://example.org/4">Fourth</a></h2></div>
</div></body></html>"""
