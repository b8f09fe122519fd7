"""Search back-ends of `web_search`: the interface, the built-ins and the fallback order.

A team adds its own back-end as a `heavy.search` entry point whose factory takes
`(SearchBackendConfig, env)` and returns a `SearchBackend`; `search.backend: <its name>` in
config.yaml then uses it, with the same fallback and the same result format as the built-ins.
"""

from __future__ import annotations

from ...core import SearchBackendConfig, SearchConfig
from ._backend import BackendFailed, SearchBackend, SearchResult, one_line, pick_results
from ._chain import SearchAnswer, build_backend, search_in_order
from ._cooldown import Cooldowns
from ._duckduckgo import parse_results, result_url
from ._http import MAX_RESPONSE_BYTES, fetch, json_answer, new_client, tls_context

__all__ = [
    "MAX_RESPONSE_BYTES",
    "BackendFailed",
    "Cooldowns",
    "SearchAnswer",
    "SearchBackend",
    "SearchBackendConfig",
    "SearchConfig",
    "SearchResult",
    "build_backend",
    "fetch",
    "json_answer",
    "new_client",
    "one_line",
    "parse_results",
    "pick_results",
    "result_url",
    "search_in_order",
    "tls_context",
]
