"""`web_search`: the configured search back-ends (`search:` in config.yaml), in order.

The tool is the same for every back-end: the model sends a query and reads numbered results
(title, URL, snippet) headed by the back-end that answered; the run's sources are read from
that text (`_sources.search_results`). Which back-ends exist is the plugin registry's
`heavy.search` group; which are asked, and in what order, is `ctx.search` (the operator's
`search:` with the channel's `search=` pick first). See `search/_http.py` for why no SSRF guard.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from ..plugins import PluginRegistry, registry
from ._base import Tool, ToolContext
from .search import Cooldowns, SearchResult, search_in_order


def format_results(
    query: str, results: list[SearchResult], backend: str | None = None,
    failed: Sequence[tuple[str, str]] = (),
) -> str:
    """The text the model reads; `backend` names who answered, `failed` who did not before."""
    where = f" from {backend}" if backend else ""
    note = "".join(f"\n({name} failed: {why})" for name, why in failed)
    if not results:
        return f"No results for {query!r}{where}.{note}"
    lines = [f"Results for {query!r}{where}:{note}"]
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
        "Search the web and return the top results with title, URL and snippet. "
        "Use fetch_url to read a result."
    )
    Params = _Params

    def __init__(
        self, *, plugins: PluginRegistry | None = None, env: Mapping[str, str] | None = None,
        cooldowns: Cooldowns | None = None,
    ) -> None:
        """`plugins` and `env` default to the process-wide registry and `os.environ`, read at
        each call (a key rotated in the environment is used at once); `cooldowns` remembers
        which back-ends throttled us (one per tool, so one per engine)."""
        self._plugins = plugins
        self._env = env
        self._cooldowns = cooldowns if cooldowns is not None else Cooldowns()

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        limit = min(params.max_results or ctx.settings.web_search_max_results,
                    ctx.settings.web_search_max_results)
        answer = await search_in_order(
            ctx.search.chain(), params.query, limit, timeout=ctx.search.timeout,
            plugins=self._plugins if self._plugins is not None else registry(),
            env=self._env if self._env is not None else os.environ, request_id=ctx.request_id,
            cooldowns=self._cooldowns)
        return format_results(params.query, answer.results, answer.backend, answer.failed)

