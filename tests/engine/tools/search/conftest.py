"""The search fakes (one set per session) and a way to call `web_search` against them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heavy_engine import SearchConfig, ToolSettings
from heavy_engine.tools import ToolContext, WebSearch, execute_tool

from .fakes import BRAVE_KEY, TAVILY_KEY, SearchFakes


@pytest.fixture(scope="session")
def fakes() -> Iterator[SearchFakes]:
    apis = SearchFakes()
    apis.start()
    yield apis
    apis.stop()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The fakes' keys in the environment, under the back-ends' default variable names."""
    env = {"BRAVE_API_KEY": BRAVE_KEY, "TAVILY_API_KEY": TAVILY_KEY}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def entry(fakes: SearchFakes, backend: str, **more: Any) -> dict[str, Any]:
    """A `search:` entry for `backend`, pointed at its fake."""
    return {"backend": backend, "base_url": fakes.urls[backend], **more}


def search_config(fakes: SearchFakes, *backends: str, **more: Any) -> SearchConfig:
    """`backends` in order (the first is `backend`, the others `fallback`), each at its fake."""
    first, *rest = backends
    return SearchConfig.model_validate(
        {**entry(fakes, first), "fallback": [entry(fakes, b) for b in rest], **more})


async def web_search(
    config: SearchConfig, query: str, max_results: int | None = None, tool_timeout: float = 20,
    tool: WebSearch | None = None,
) -> str:
    """The text `web_search` gives the model (results, or `error: ...`); a fresh tool each
    call unless one is given (a tool remembers which back-ends throttled it)."""
    ctx = ToolContext("req-search", None, ToolSettings(web_search_max_results=3), search=config)
    args: dict[str, Any] = {"query": query}
    if max_results is not None:
        args["max_results"] = max_results
    result = await execute_tool(tool or WebSearch(), "web_search", json.dumps(args), ctx,
                                tool_timeout)
    return result.text
