"""A team's own back-end: a `heavy.search` plugin, used like the built-ins (doubles are
registered in a fixture and removed, never at import time)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heavy_engine import ConfigError, validate_config
from heavy_engine.plugins import PluginRegistry, registry
from heavy_engine.tools.search import (
    BackendFailed,
    SearchBackend,
    SearchBackendConfig,
    SearchResult,
    build_backend,
)
from tests.plugin_dist import install_dist

from .conftest import entry, web_search
from .fakes import SearchFakes


class TeamWiki(SearchBackend):
    """Searches a wiki the team runs (here: answers from memory)."""

    name = "team_wiki"
    default_base_url = "http://wiki.internal"

    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        return [SearchResult(f"Wiki: {query}", f"https://wiki.team.example/{i}", "From the wiki.")
                for i in range(1, limit + 1)]


def _crashes(config: SearchBackendConfig, env: Any) -> SearchBackend:
    raise RuntimeError("could not log in with sk-team-secret-5521")


def _not_a_backend(config: SearchBackendConfig, env: Any) -> object:
    return object()


@pytest.fixture
def team_plugins() -> Iterator[None]:
    plugins = registry()
    with plugins.registered("search", "team_wiki", TeamWiki), \
            plugins.registered("search", "crashes", _crashes), \
            plugins.registered("search", "not_a_backend", _not_a_backend):
        yield


async def test_a_plugin_backend_is_configured_and_used_like_a_builtin(
    team_plugins: None, fakes: SearchFakes
) -> None:
    config = validate_config({"search": {"backend": "team_wiki",
                                         "fallback": [entry(fakes, "duckduckgo")]}})
    text = await web_search(config.search, "deploy checklist", max_results=2)
    assert text.splitlines() == [
        "Results for 'deploy checklist' from team_wiki:", "",
        "1. Wiki: deploy checklist", "   https://wiki.team.example/1", "   From the wiki.", "",
        "2. Wiki: deploy checklist", "   https://wiki.team.example/2", "   From the wiki.",
    ]


def test_without_the_plugin_the_name_is_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown search back-end 'team_wiki'"):
        validate_config({"search": {"backend": "team_wiki"}})


async def test_a_broken_plugin_falls_through_without_its_message(
    team_plugins: None, fakes: SearchFakes, caplog: pytest.LogCaptureFixture
) -> None:
    config = validate_config({"search": {"backend": "crashes", "fallback": [
        {"backend": "not_a_backend"}, entry(fakes, "duckduckgo")]}})
    with caplog.at_level(logging.DEBUG):
        text = await web_search(config.search, "broken plugins")
    assert text.splitlines()[:3] == [
        "Results for 'broken plugins' from duckduckgo:",
        "(crashes failed: crashed: RuntimeError)",
        "(not_a_backend failed: its plugin did not build a SearchBackend)",
    ]
    assert "sk-team-secret" not in caplog.text + text  # a plugin's message may quote its key


def test_a_plugin_that_does_not_import_is_logged_once_with_its_reason(
    caplog: pytest.LogCaptureFixture
) -> None:
    plugins = PluginRegistry({"search": {"ghost": "heavy_no_such_module:Ghost"}},
                             entry_points=False)
    ghost = SearchBackendConfig.model_construct(backend="ghost", base_url=None,
                                                api_key_env=None)
    with caplog.at_level(logging.ERROR, logger="heavy.tools.search"):
        for _ in range(2):
            with pytest.raises(BackendFailed, match="its plugin could not be loaded"):
                build_backend(plugins, ghost, {})
    [logged] = [r for r in caplog.records if "ghost" in r.getMessage()]
    assert "No module named 'heavy_no_such_module'" in logged.getMessage()


def test_an_installed_distribution_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = install_dist(tmp_path / "site", "heavy-acme-search", """
        [heavy.search]
        acme = acme_search:AcmeSearch
    """, {"acme_search.py": """
        from heavy_engine.tools.search import SearchBackend

        class AcmeSearch(SearchBackend):
            name = "acme"
            default_base_url = "https://search.acme.example/api"
            key_env = "ACME_SEARCH_KEY"

            async def search(self, client, query, limit):
                return []
    """})
    monkeypatch.syspath_prepend(str(site))
    plugins = PluginRegistry()
    assert plugins.names("search")[:4] == ["acme", "brave", "duckduckgo", "searxng"]
    assert [p.name for p in plugins.plugins("search")][-1] == "acme"  # built-ins first
    backend = build_backend(plugins, SearchBackendConfig.model_construct(
        backend="acme", base_url=None, api_key_env=None), {"ACME_SEARCH_KEY": "k"})
    assert backend.base_url == "https://search.acme.example/api"
    assert repr(backend) == "<AcmeSearch https://search.acme.example/api>"  # never the key
    sys.modules.pop("acme_search", None)
