"""Local fakes of the four search APIs: each checks a request as the real API does and answers
in the real JSON shape (aiohttp, one port each, on a loop in a background thread, so one set
serves every test of the session whatever its event loop).

What each fake checks, and the document it follows:

- searxng (docs.searxng.org/dev/search_api): `GET /search`; `q` required (400 without);
  `format=json` answered only because json is enabled (another format: 403, as an instance
  without it in `search.formats`; no format: the HTML page). Answer: `results[]` of
  `url`/`title`/`content` plus the other fields SearXNG sends.
- brave (api-dashboard.search.brave.com, web search): `GET /res/v1/web/search`; header
  `X-Subscription-Token` equal to the key (missing or wrong: 422 `SUBSCRIPTION_TOKEN_INVALID`,
  as Brave answers); `q` 1-400 characters and at most 50 words, `count` 1-20 (else 422 `VALIDATION`). Answer:
  `web.results[]` of `url`/`title`/`description` (with Brave's <strong> marks).
- tavily (docs.tavily.com/api-reference): `POST /search`; `Authorization: Bearer <key>`
  (missing or wrong: 401); a JSON body with a non-empty `query` and `max_results` 0-20 (else
  400). Answer: `results[]` of `url`/`title`/`content`/`score` plus `query`, `answer`,
  `response_time`.
- duckduckgo (no API; the HTML page): `POST /html/` with the form field `q`; answers a results
  page in DuckDuckGo's markup, or its 202 bot-check page.

A failure is asked for in the query: `[searxng:429]` makes the searxng fake answer 429 to it
(`500`, `503`, `challenge` (a bot-check HTML page), `hang`, `empty`, `redirect`, and for searxng `broken`
(its engines down) and `nojson` (json not in its search.formats) work too), so
concurrent tests never change a shared fake's behaviour.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

BRAVE_KEY = "BSA-fake-brave-key-7f3a91c2"
TAVILY_KEY = "tvly-dev-fake-tavily-key-4e8b20d6"
HANG_S = 5.0  # longer than any per-back-end timeout a test sets
RETRY_AFTER_S = 7  # what a 429 asks
BACKENDS = ("searxng", "brave", "tavily", "duckduckgo")
_MARK = re.compile(r"\[(\w+):(\w+)\]")
CHALLENGE_PAGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
                  b"<form id=\"challenge-form\" action=\"/cdn-cgi/challenge\"></form></body></html>")
DDG_CHALLENGE = (b"<html><body><div class=\"anomaly-modal__title\">Unfortunately, bots use "
                 b"DuckDuckGo too.</div><form id=\"challenge-form\" action=\"//duckduckgo.com/"
                 b"anomaly.js?sv=html\"></form></body></html>")


@dataclass(slots=True)
class Seen:
    """One request as a fake received it."""

    backend: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the fake answered


def failure(query: str, backend: str) -> str | None:
    """The failure `query` asks of `backend`, e.g. "429" for `[brave:429]`."""
    return next((mode for name, mode in _MARK.findall(query) if name == backend), None)


def hits(backend: str, query: str, n: int) -> list[dict[str, str]]:
    """`n` results a back-end finds for `query`: its name is in every URL, so a test sees who
    answered."""
    slug = re.sub(r"[^a-z0-9]+", "-", _MARK.sub("", query).lower()).strip("-") or "q"
    return [{"url": f"https://{backend}.example/{slug}/{i}", "title": f"{backend} result {i}",
             "text": f"What {backend} knows about {slug}, part {i}."} for i in range(1, n + 1)]


@dataclass
class SearchFakes:
    urls: dict[str, str] = field(default_factory=dict)  # back-end -> base_url to configure
    seen: list[Seen] = field(default_factory=list, repr=False)
    _loop: asyncio.AbstractEventLoop | None = None
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    def requests(self, backend: str, query_part: str = "") -> list[Seen]:
        """What `backend` received for queries containing `query_part`."""
        return [s for s in self.seen if s.backend == backend and query_part in _query_of(s)]

    # -- lifecycle: a thread with its own loop -------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(60) or len(self.urls) != len(BACKENDS):
            raise RuntimeError("the search fakes did not start")

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._cleanup())
        self._loop.close()

    async def _cleanup(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def _serve(self) -> None:
        handlers = {"searxng": ("GET", "/search", self._searxng, ""),
                    "brave": ("GET", "/res/v1/web/search", self._brave, "/res/v1"),
                    "tavily": ("POST", "/search", self._tavily, ""),
                    "duckduckgo": ("POST", "/html/", self._duckduckgo, "/html/")}
        for backend, (method, path, handler, root) in handlers.items():
            app = web.Application()
            app.router.add_route(method, path, self._recorded(backend, handler))
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                   shutdown_timeout=0.2)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            port = runner.addresses[0][1]
            self.urls[backend] = f"http://127.0.0.1:{port}{root}"

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def _recorded(self, backend: str, handler: Any) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            seen = Seen(backend, request.method, request.path, dict(request.query),
                        {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.seen.append(seen)
            query = _query_of(seen)
            mode = failure(query, backend)
            if mode == "hang":
                await asyncio.sleep(HANG_S)
            if mode in ("429", "500", "503"):
                response: web.StreamResponse = web.json_response(
                    {"error": f"fake {mode}"}, status=int(mode),
                    headers={"Retry-After": str(RETRY_AFTER_S)} if mode == "429" else None)
            elif mode == "challenge":
                response = _challenge(backend)
            elif mode == "redirect":  # somewhere a client that follows would go: recorded
                response = web.Response(status=302, headers={
                    "Location": f"{self.urls[backend]}/search?q=followed-redirect&format=json"})
            else:
                response = await handler(seen, query, mode)
            seen.status = response.status
            return response
        return handle

    # -- the four APIs -------------------------------------------------------------------------

    async def _searxng(self, seen: Seen, query: str, mode: str | None) -> web.StreamResponse:
        if not seen.query.get("q"):
            return web.Response(status=400, text="Bad Request")
        fmt = seen.query.get("format")
        if fmt is None:
            return web.Response(text="<html><body>results page</body></html>",
                                content_type="text/html")
        # the fake instance enables html and json; `nojson` plays one with html only
        if fmt not in (("html",) if mode == "nojson" else ("html", "json")):
            return web.Response(status=403, text="Forbidden")
        found = [] if mode in ("empty", "broken") else hits("searxng", query, 8)
        return web.json_response({
            "query": seen.query["q"], "number_of_results": 0,
            "results": [{"url": h["url"], "title": h["title"], "content": h["text"],
                         "engine": "wikipedia", "parsed_url": ["https", "searxng.example"],
                         "template": "default.html", "engines": ["wikipedia"],
                         "positions": [1], "score": 1.0, "category": "general"} for h in found],
            "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
            # (engine, error type, suspended) triples, as SearXNG serialises them
            "unresponsive_engines": [["google", "CAPTCHA", True], ["bing", "timeout", False]]
            if mode == "broken" else [],
        })

    async def _brave(self, seen: Seen, query: str, mode: str | None) -> web.StreamResponse:
        if seen.headers.get("x-subscription-token") != BRAVE_KEY:
            return _brave_error(422, "SUBSCRIPTION_TOKEN_INVALID",
                                "The provided subscription token is invalid.")
        q, count = seen.query.get("q", ""), seen.query.get("count", "20")
        if (not 1 <= len(q) <= 400 or len(q.split()) > 50 or not count.isdigit()
                or not 1 <= int(count) <= 20):
            return _brave_error(422, "VALIDATION", "Unable to validate request parameter(s)")
        if mode == "empty":  # Brave leaves out the `web` section when nothing is found
            return web.json_response({"type": "search", "query": {"original": q}})
        found = hits("brave", query, int(count))
        return web.json_response({
            "type": "search",
            "query": {"original": q, "show_strict_warning": False, "is_navigational": False},
            "mixed": {"type": "mixed", "main": [{"type": "web", "index": 0, "all": False}]},
            "web": {"type": "search", "family_friendly": True, "results": [
                {"type": "search_result", "subtype": "generic", "title": h["title"],
                 "url": h["url"], "description": h["text"].replace("What", "<strong>What</strong>"),
                 "is_source_local": False, "is_source_both": False, "language": "en",
                 "family_friendly": True,
                 "meta_url": {"scheme": "https", "netloc": "brave.example"}} for h in found]},
        })

    async def _tavily(self, seen: Seen, query: str, mode: str | None) -> web.StreamResponse:
        if seen.headers.get("authorization") != f"Bearer {TAVILY_KEY}":
            return web.json_response(
                {"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
        try:
            body = json.loads(seen.body)
        except ValueError:
            body = None
        if (not isinstance(body, dict) or not isinstance(body.get("query"), str)
                or not body["query"] or not _int_in(body.get("max_results", 5), 0, 20)
                or "application/json" not in seen.headers.get("content-type", "")):
            return web.json_response({"detail": {"error": "Invalid request body."}}, status=400)
        found = [] if mode == "empty" else hits("tavily", query, body.get("max_results", 5))
        return web.json_response({
            "query": body["query"], "follow_up_questions": None, "answer": None, "images": [],
            "results": [{"title": h["title"], "url": h["url"], "content": h["text"],
                         "score": 0.9 - i / 100, "raw_content": None}
                        for i, h in enumerate(found)],
            "response_time": 0.42, "request_id": "fake-request-id",
        })

    async def _duckduckgo(self, seen: Seen, query: str, mode: str | None) -> web.StreamResponse:
        if not query or "x-www-form-urlencoded" not in seen.headers.get("content-type", ""):
            return web.Response(status=400, text="bad form")
        rows = "".join(
            f'<div class="result web-result"><h2 class="result__title"><a class="result__a" '
            f'href="//duckduckgo.com/l/?uddg={h["url"]}&amp;rut=x">{h["title"]}</a></h2>'
            f'<a class="result__snippet" href="#">{h["text"]}</a></div>'
            for h in ([] if mode == "empty" else hits("duckduckgo", query, 6)))
        return web.Response(text=f"<html><body><div id=\"links\">{rows}</div></body></html>",
                            content_type="text/html", charset="utf-8")


def _query_of(seen: Seen) -> str:
    if "q" in seen.query:
        return seen.query["q"]
    if seen.backend == "duckduckgo":
        return (parse_qs(seen.body.decode()).get("q") or [""])[0]
    try:
        body = json.loads(seen.body)
    except ValueError:
        return ""
    return str(body.get("query", "")) if isinstance(body, dict) else ""


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _brave_error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"type": "ErrorResponse", "error": {
        "id": "fake-error-id", "status": status, "code": code, "detail": detail,
        "meta": {"component": "authentication" if code.startswith("SUB") else "validation"}},
        "time": 1733580000}, status=status)


def _challenge(backend: str) -> web.Response:
    if backend == "duckduckgo":  # DuckDuckGo's own: HTTP 202 and its anomaly form
        return web.Response(status=202, body=DDG_CHALLENGE, content_type="text/html")
    # A bot-check proxy in front of a JSON API answers 200 with a page of its own
    return web.Response(status=200, body=CHALLENGE_PAGE, content_type="text/html")
