"""Each back-end against its fake: the request is the one the real API expects, the answer in
the real shape becomes the same numbered results, and a wrong key is refused by the fake."""

from __future__ import annotations

import json

import pytest

from .conftest import search_config, web_search
from .fakes import BRAVE_KEY, TAVILY_KEY, SearchFakes


async def test_searxng_json_api(fakes: SearchFakes) -> None:
    text = await web_search(search_config(fakes, "searxng"), "tide tables")
    assert text.splitlines()[:5] == [
        "Results for 'tide tables' from searxng:",
        "",
        "1. searxng result 1",
        "   https://searxng.example/tide-tables/1",
        "   What searxng knows about tide-tables, part 1.",
    ]
    assert text.count("\n   https://") == 3  # 8 answered, capped by web_search_max_results
    [seen] = fakes.requests("searxng", "tide tables")
    assert (seen.method, seen.path, seen.query) == (
        "GET", "/search", {"q": "tide tables", "format": "json"})
    assert seen.status == 200


async def test_brave_web_search_api(fakes: SearchFakes, keys: dict[str, str]) -> None:
    text = await web_search(search_config(fakes, "brave"), "moon phases", max_results=2)
    assert text.splitlines() == [
        "Results for 'moon phases' from brave:",
        "",
        "1. brave result 1",
        "   https://brave.example/moon-phases/1",
        "   What brave knows about moon-phases, part 1.",  # <strong> marks removed
        "",
        "2. brave result 2",
        "   https://brave.example/moon-phases/2",
        "   What brave knows about moon-phases, part 2.",
    ]
    [seen] = fakes.requests("brave", "moon phases")
    assert (seen.method, seen.path, seen.query) == (
        "GET", "/res/v1/web/search", {"q": "moon phases", "count": "2"})
    assert seen.headers["x-subscription-token"] == BRAVE_KEY
    assert seen.headers["accept"] == "application/json"


async def test_tavily_search_api(fakes: SearchFakes, keys: dict[str, str]) -> None:
    text = await web_search(search_config(fakes, "tavily"), "river deltas")
    assert text.splitlines()[:5] == [
        "Results for 'river deltas' from tavily:",
        "",
        "1. tavily result 1",
        "   https://tavily.example/river-deltas/1",
        "   What tavily knows about river-deltas, part 1.",
    ]
    [seen] = fakes.requests("tavily", "river deltas")
    assert (seen.method, seen.path, seen.query) == ("POST", "/search", {})
    assert seen.headers["authorization"] == f"Bearer {TAVILY_KEY}"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"query": "river deltas", "max_results": 3,
                                     "search_depth": "basic"}


async def test_duckduckgo_html_page(fakes: SearchFakes) -> None:
    text = await web_search(search_config(fakes, "duckduckgo"), "salt marsh")
    assert text.splitlines()[:4] == [
        "Results for 'salt marsh' from duckduckgo:",
        "",
        "1. duckduckgo result 1",
        "   https://duckduckgo.example/salt-marsh/1",  # unwrapped from /l/?uddg=
    ]
    [seen] = fakes.requests("duckduckgo", "salt marsh")
    assert (seen.method, seen.path, seen.body) == ("POST", "/html/", b"q=salt+marsh")


async def test_brave_gets_a_query_within_its_limits(fakes: SearchFakes, keys: dict[str, str]) -> None:
    # The model may send 500 characters; Brave refuses more than 400 or 50 words (422).
    query = "estuary " + "word " * 98
    text = await web_search(search_config(fakes, "brave"), query)
    assert text.startswith(f"Results for {query!r} from brave:")
    [seen] = fakes.requests("brave", "estuary word")
    assert seen.status == 200 and len(seen.query["q"].split()) == 50


@pytest.mark.parametrize(("backend", "variable", "status", "reason"), [
    # Brave answers a wrong token with 422 SUBSCRIPTION_TOKEN_INVALID
    ("brave", "BRAVE_API_KEY", 422, "refused the key, HTTP 422 SUBSCRIPTION_TOKEN_INVALID"),
    # Tavily answers 401 Unauthorized
    ("tavily", "TAVILY_API_KEY", 401, "refused the request, HTTP 401: check its key and base_url"),
])
async def test_a_wrong_key_is_refused_by_the_api(
    fakes: SearchFakes, monkeypatch: pytest.MonkeyPatch, backend: str, variable: str,
    status: int, reason: str,
) -> None:
    monkeypatch.setenv(variable, "not-the-key")
    text = await web_search(search_config(fakes, backend), f"wrong key {backend}")
    assert text == f"error: web search failed: {backend}: {reason}"
    assert [s.status for s in fakes.requests(backend, f"wrong key {backend}")] == [status]


async def test_a_missing_key_is_named_and_nothing_is_sent(fakes: SearchFakes) -> None:
    config = search_config(fakes, "brave", fallback=[{"backend": "tavily", "api_key_env":
                                                      "TEAM_TAVILY_KEY"}])
    text = await web_search(config, "no keys at all")
    assert text == ("error: web search failed: brave: BRAVE_API_KEY is not set; "
                    "tavily: TEAM_TAVILY_KEY is not set")
    assert fakes.requests("brave", "no keys") == fakes.requests("tavily", "no keys") == []


async def test_searxng_without_json_enabled_says_how_to_fix_it(fakes: SearchFakes) -> None:
    # `[searxng:nojson]`: the fake answers as an instance without json in search.formats
    text = await web_search(search_config(fakes, "searxng"), "formats [searxng:nojson]")
    assert text == ("error: web search failed: searxng: refused JSON, HTTP 403: add json to "
                    "search.formats in its settings.yml")
