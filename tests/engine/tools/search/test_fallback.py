"""A throttled or failing back-end falls through to the next with one warning; the result says
who answered; keys never reach a log line, an error or the model."""

from __future__ import annotations

import logging
import time

import pytest

from heavy_engine import validate_config
from heavy_engine.cli import hide_secrets
from heavy_engine.observability import redact
from heavy_engine.tools import WebSearch
from heavy_engine.tools.search import Cooldowns
from heavy_engine.tools.search._http import retry_after

from .conftest import search_config, web_search
from .fakes import BRAVE_KEY, HANG_S, RETRY_AFTER_S, TAVILY_KEY, SearchFakes

LOGGER = "heavy.tools.search"


@pytest.mark.parametrize(("first", "mode", "why"), [
    ("searxng", "429", "rate limited, HTTP 429; resting 7 s"),
    ("searxng", "500", "answered HTTP 500"),
    ("brave", "503", "answered HTTP 503"),
    # a bot-check page in front of a JSON API, answered 200 as text/html
    ("searxng", "challenge", "answered a web page instead of JSON: a challenge page?; resting 30 s"),
    ("brave", "challenge", "answered a web page instead of JSON: a challenge page?; resting 30 s"),
    ("tavily", "challenge", "answered a web page instead of JSON: a challenge page?; resting 30 s"),
    # DuckDuckGo's own: HTTP 202 and its anomaly form
    ("duckduckgo", "challenge", "throttled: answered a bot-check page, HTTP 202; resting 30 s"),
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


async def test_a_redirect_is_not_followed(fakes: SearchFakes) -> None:
    # An API answering 3xx could bounce the request to an internal address: it is a failure.
    text = await web_search(search_config(fakes, "searxng"), "bounce [searxng:redirect]")
    assert text == ("error: web search failed: searxng: redirected, HTTP 302: base_url should "
                    "be the API's root")
    assert fakes.requests("searxng", "followed-redirect") == []


async def test_the_chain_goes_on_until_one_answers(
    fakes: SearchFakes, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    query = "three down [searxng:429] [brave:500] [tavily:challenge]"
    config = search_config(fakes, "searxng", "brave", "tavily", "duckduckgo")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        text = await web_search(config, query)
    assert text.splitlines()[:4] == [
        f"Results for {query!r} from duckduckgo:",
        "(searxng failed: rate limited, HTTP 429; resting 7 s)",
        "(brave failed: answered HTTP 500)",
        "(tavily failed: answered a web page instead of JSON: a challenge page?; resting 30 s)",
    ]
    assert len([r for r in caplog.records if r.name == LOGGER]) == 3


async def test_when_every_backend_fails_the_model_is_told_why(
    fakes: SearchFakes, keys: dict[str, str]
) -> None:
    query = "all down [searxng:503] [duckduckgo:challenge]"
    text = await web_search(search_config(fakes, "searxng", "duckduckgo"), query)
    assert text == ("error: web search failed: searxng: answered HTTP 503; "
                    "duckduckgo: throttled: answered a bot-check page, HTTP 202; resting 30 s")


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_throttled_backend_rests_then_is_asked_again(
    fakes: SearchFakes, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    tool = WebSearch(cooldowns=Cooldowns(clock))
    config = search_config(fakes, "searxng", "duckduckgo")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await web_search(config, "rest first [searxng:429]", tool=tool)
        clock.now += 2
        text = await web_search(config, "rest second", tool=tool)
    assert text.splitlines()[:2] == [
        "Results for 'rest second' from duckduckgo:",
        f"(searxng failed: throttled earlier, resting {RETRY_AFTER_S - 2} s more)"]
    assert fakes.requests("searxng", "rest second") == []  # left alone, as it asked
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1  # when it began resting
    clock.now += RETRY_AFTER_S
    text = await web_search(config, "rest over", tool=tool)
    assert text.startswith("Results for 'rest over' from searxng:\n\n1.")


async def test_when_everything_rests_the_call_fails_at_once(fakes: SearchFakes) -> None:
    tool = WebSearch(cooldowns=Cooldowns(Clock()))
    config = search_config(fakes, "duckduckgo")
    await web_search(config, "bot check [duckduckgo:challenge]", tool=tool)
    text = await web_search(config, "still resting", tool=tool)
    assert text == ("error: web search failed: duckduckgo: throttled earlier, resting 30 s more")
    assert fakes.requests("duckduckgo", "still resting") == []


@pytest.mark.parametrize(("header", "rest"), [
    ("120", 120.0),  # delta seconds, as asked
    (None, 30.0),  # no header: THROTTLE_REST_S
    ("Wed, 21 Oct 2026 07:28:00 GMT", 30.0),  # an HTTP date: the default, no clock parsing
    ("0", 1.0),  # at least a second
    ("99999", 600.0),  # at most MAX_REST_S
    ("nan", 30.0),
])
def test_retry_after(header: str | None, rest: float) -> None:
    assert retry_after(header) == rest
