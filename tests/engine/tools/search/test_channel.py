"""The `search:` key (validated like every other key) and the per-channel `search=` pick."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig, validate_config
from heavy_engine.settings import SettingsRefused, check_value, layer

from .conftest import entry, web_search
from .fakes import SearchFakes


@pytest.mark.parametrize(("search", "message"), [
    # a name no built-in or plugin registers
    ({"backend": "bing"}, "search.backend: unknown search back-end 'bing' (known: brave, "
                          "duckduckgo, searxng, tavily) (got 'bing')"),
    # the same back-end twice: a channel could not say which one it picks
    ({"backend": "duckduckgo", "fallback": ["duckduckgo"]},
     "search: each search back-end may appear once in backend and fallback (got duckduckgo, "
     "duckduckgo)"),
    ({"fallback": [{"backend": "searxng", "base_url": "searx.internal:8080"}]},
     "search.fallback.0.base_url: base_url must be an http:// or https:// URL with a host "
     "(got 'searx.internal:8080')"),
    # credentials in a URL end up in logs: keys go in api_key_env
    ({"backend": "searxng", "base_url": "https://bob:pw@searx.example"},
     "search.base_url: base_url must not carry a user or password; use api_key_env "
     "(got 'https://bob:pw@searx.example')"),
    ({"fallback": [42]},
     "search.fallback.0: Input should be a valid dictionary or instance of SearchBackendConfig "
     "(got 42)"),
    ({"timeout": 0}, "search.timeout: Input should be greater than 0 (got 0)"),
    ({"prefer": "brave"},
     "search: 'brave' is not a configured search back-end (configured: duckduckgo)"),
])
def test_a_bad_search_key_names_the_path_and_the_rule(search: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"search": search})
    assert str(err.value) == message


@pytest.mark.parametrize("search", [
    {"backend": "brave", "api_key_env": "BSA-live-0123456789abcdef"},  # the key, pasted
    {"backend": "brave", "api_key": "BSA-live-0123456789abcdef"},  # a key field that is not ours
])
def test_a_pasted_key_is_refused_without_being_echoed(search: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"search": search})
    assert "search.api_key" in str(err.value)
    assert "0123456789abcdef" not in str(err.value)



def test_counts_named_like_secrets_are_still_echoed() -> None:
    with pytest.raises(ConfigError, match=r"^budget\.tokens: .* \(got 0\)$"):
        validate_config({"budget": {"tokens": 0}})


def test_the_issue_example_validates() -> None:
    config = validate_config({"search": {
        "backend": "searxng", "base_url": "http://searx.internal:8080",
        "api_key_env": "BRAVE_API_KEY",
        "fallback": [{"backend": "brave", "api_key_env": "BRAVE_API_KEY"}, "duckduckgo"]}})
    assert [(e.backend, e.base_url) for e in config.search.chain()] == [
        ("searxng", "http://searx.internal:8080"), ("brave", None), ("duckduckgo", None)]
    assert HeavyConfig().search.names() == ["duckduckgo"]  # zero configuration


def operator(fakes: SearchFakes) -> HeavyConfig:
    return validate_config({"search": {**entry(fakes, "searxng"),
                                       "fallback": [entry(fakes, "duckduckgo")]}})


def test_a_channel_picks_among_the_configured_backends(fakes: SearchFakes) -> None:
    base = operator(fakes)
    assert check_value(base, "search", "duckduckgo", None) == ("search", "duckduckgo")
    assert check_value(base, "search", "none", None) == ("search", None)  # the operator's order
    with pytest.raises(SettingsRefused, match=r"^search: 'brave' is not a configured search "
                                              r"back-end \(configured: searxng, duckduckgo\)$"):
        check_value(base, "search", "brave", None)
    # where a back-end lives and its key are the operator's alone
    for key in ("search.base_url", "search.backend", "search.api_key_env"):
        with pytest.raises(SettingsRefused, match="not a setting you can change"):
            check_value(base, key, "http://10.0.0.1/", None)


async def test_the_channel_pick_is_asked_first_and_the_rest_stay_as_fallback(
    fakes: SearchFakes,
) -> None:
    base = operator(fakes)
    picked = layer(base, {}, {"search": "duckduckgo"}, {})
    assert picked.sources["search"] == "channel"
    text = await web_search(picked.config.search, "channel pick")
    assert text.startswith("Results for 'channel pick' from duckduckgo:\n\n1.")
    assert fakes.requests("searxng", "channel pick") == []
    # the picked one failing: the operator's others still answer
    text = await web_search(picked.config.search, "pick down [duckduckgo:429]")
    assert text.startswith("Results for 'pick down [duckduckgo:429]' from searxng:\n"
                           "(duckduckgo failed: rate limited, HTTP 429; resting 7 s)")
    # no pick: the operator's order
    text = await web_search(layer(base, {}, {}, {}).config.search, "operator order")
    assert text.startswith("Results for 'operator order' from searxng:")


def test_a_stored_pick_the_operator_no_longer_offers_is_skipped(
    fakes: SearchFakes, caplog: pytest.LogCaptureFixture
) -> None:
    narrowed = validate_config({"search": entry(fakes, "searxng")})
    resolved = layer(narrowed, {}, {"search": "duckduckgo"}, {}, where="slack/T1/C1")
    assert resolved.config.search.chain()[0].backend == "searxng"
    assert "ignoring stored setting for slack/T1/C1 (channel): search:" in caplog.text
