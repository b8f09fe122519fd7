"""Shared fixtures. Tests never touch real state: tokens and proxies are cleared from the env."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from heavy_engine.testing import FakeLLM
from heavy_engine.tools.search._backend import BackendFailed
from heavy_engine.tools.search._duckduckgo import DDG_HTML_URL, DuckDuckGo

from .pg import Cluster, start_cluster

_SCRUB = (
    "OPENROUTER_API_KEY", "HEAVY_LLM_BASE_URL", "HEAVY_LLM_API_KEY", "HEAVY_MODEL",
    "HEAVY_CONFIG", "HEAVY_DATABASE_URL", "HEAVY_API_TOKEN", "HEAVY_LOG_FORMAT",
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL",
    "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "HEAVY_SECRET_KEY",
    "DISCORD_TOKEN", "DISCORD_API_URL", "DISCORD_GATEWAY_URL", "PORT",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "NO_PROXY", "no_proxy", "ANTHROPIC_API_KEY", "HEAVY_ROLE",
    "BRAVE_API_KEY", "TAVILY_API_KEY",  # web_search back-ends
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)
    # A config.yaml in the working directory must not leak into tests.
    monkeypatch.chdir(tmp_path)
    # The simulated model answers at once unless a test asks for its pace.
    monkeypatch.setenv("HEAVY_SIMULATED_PACE", "0")
    # The simulated model searches the web for its sub-questions: tests never reach the real
    # DuckDuckGo (search tests point the back-end's `base_url` at a local fake instead).
    real_search = DuckDuckGo.search

    async def offline_search(self: DuckDuckGo, client: Any, query: str, limit: int) -> Any:
        if self.endpoint == DDG_HTML_URL:
            raise BackendFailed("unavailable: no network connection in the tests")
        return await real_search(self, client, query, limit)

    monkeypatch.setattr(DuckDuckGo, "search", offline_search)


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """A started fake OpenAI-compatible server; `fake_config(fake_llm.base_url)` points at it."""
    async with FakeLLM() as fake:
        yield fake


@pytest.fixture
def unused_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the session (skipped when it cannot run)."""
    yield from start_cluster()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A `postgresql://` URL to a fresh empty database, dropped after the test."""
    name = pg_cluster.create_database()
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)
