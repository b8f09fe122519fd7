"""A throttled or failing back-end falls through to the next with one warning; the result says
who answered; keys never reach a log line, an error or the model."""

from __future__ import annotations

import logging
import time

import pytest

from heavy_engine import validate_config
from heavy_engine.cli import hide_secrets
from heavy_engine.observability import redact

from .conftest import search_config, web_search
from .fakes import BRAVE_KEY, HANG_S, TAVILY_KEY, SearchFakes

LOGGER = "heavy.tools.search"


@pytest.mark.parametrize(("first", "mode", "why"), [
    ("searxng", "429", "rate limited, HTTP 429"),
    ("searxng", "500", "answered HTTP 500"),
    ("brave", "503", "answered HTTP 503"),
    # a bot-check page in front of a JSON API, answered 200 as text/html
    ("searxng", "challenge", "answered a web page instead of JSON: a challenge page?"),
    ("brave", "challenge", "answered a web page instead of JSON: a challenge page?"),
    ("tavily", "challenge", "answered a web page instead of JSON: a challenge page?"),
    # DuckDuckGo's own: HTTP 202 and its anomaly form
    ("duckduckgo", "challenge", "throttled: answered a bot-check page, HTTP 202"),
    ("tavily", "hang", "timed out after 0.5 s"),
    # an instance whose upstream engines are all blocked answers 200 and nothing
    ("searxng", "broken", "no engine answered: google: CAPTCHA, bing: timeout"),
])
async def test_a_failing_backend_falls_through_with_one_warning(
    fakes: SearchFakes, keys: dict[str, str], caplog: pytest.LogCaptureFixture,
    first: str, mode: str, why: str,
) -> None:
    second = "searxng" if first != "searxng" else "duckduckgo"
    query = f"fall through {first} {mode} [{first}:{mode}]"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        start = time.monotonic()
        text = await web_search(search_config(fakes, first, second, timeout=0.5), query)
    assert time.monotonic() - start < HANG_S  # a hang costs the timeout, not the hang
    lines = text.splitlines()
    assert lines[:2] == [f"Results for {query!r} from {second}:", f"({first} failed: {why})"]
    assert f"https://{second}.example/" in lines[4]
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        f"web_search (request req-search): {first} failed ({why}); asking {second}"]
    assert len(fakes.requests(first, query)) == len(fakes.requests(second, query)) == 1


async def test_the_chain_goes_on_until_one_answers(
    fakes: SearchFakes, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    query = "three down [searxng:429] [brave:500] [tavily:challenge]"
    config = search_config(fakes, "searxng", "brave", "tavily", "duckduckgo")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        text = await web_search(config, query)
    assert text.splitlines()[:4] == [
        f"Results for {query!r} from duckduckgo:",
        "(searxng failed: rate limited, HTTP 429)",
        "(brave failed: answered HTTP 500)",
        "(tavily failed: answered a web page instead of JSON: a challenge page?)",
    ]
    assert len([r for r in caplog.records if r.name == LOGGER]) == 3


async def test_when_every_backend_fails_the_model_is_told_why(
    fakes: SearchFakes, keys: dict[str, str]
) -> None:
    query = "all down [searxng:503] [duckduckgo:challenge]"
    text = await web_search(search_config(fakes, "searxng", "duckduckgo"), query)
    assert text == ("error: web search failed: searxng: answered HTTP 503; "
                    "duckduckgo: throttled: answered a bot-check page, HTTP 202")


async def test_no_results_is_an_answer_not_a_failure(
    fakes: SearchFakes, keys: dict[str, str]
) -> None:
    text = await web_search(search_config(fakes, "brave", "duckduckgo"), "nothing [brave:empty]")
    assert text == "No results for 'nothing [brave:empty]' from brave."
    assert fakes.requests("duckduckgo", "nothing [brave:empty]") == []


async def test_keys_never_reach_logs_errors_or_the_model(
    fakes: SearchFakes, keys: dict[str, str], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Everything logs, httpx and httpcore included, while each keyed back-end fails every way.
    texts = []
    with caplog.at_level(logging.DEBUG):
        for mode in ("429", "500", "challenge", "hang", "empty"):
            query = f"secret check {mode} [brave:{mode}] [tavily:{mode}]"
            config = search_config(fakes, "brave", "tavily", timeout=0.5)
            texts.append(await web_search(config, query))
        wrong = {"BRAVE_API_KEY": "wrong-brave-secret-91", "TAVILY_API_KEY": "wrong-tavily-88"}
        for name, value in wrong.items():
            monkeypatch.setenv(name, value)
        texts.append(await web_search(search_config(fakes, "brave", "tavily"), "wrong keys"))
    assert "refused the request, HTTP 401" in texts[-1]  # tavily refused the wrong key
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (BRAVE_KEY, TAVILY_KEY, *wrong.values()):
        assert secret not in logged
        assert all(secret not in t for t in texts)
    assert any("HTTP Request: GET" in r.getMessage() for r in caplog.records)  # httpx did log


def test_serve_hides_a_search_key_named_in_config() -> None:
    # `api_key_env` may name any variable: `heavy serve` adds its value to the redaction list.
    config = validate_config({"search": {"backend": "brave", "api_key_env": "TEAM_BRAVE"}})
    hide_secrets(config, {"TEAM_BRAVE": "team-brave-0a9f8e7d6c"})
    assert redact("upstream echoed team-brave-0a9f8e7d6c") == "upstream echoed [REDACTED]"
