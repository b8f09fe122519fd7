"""`brave`: the Brave Search API (web search), with a subscription key.

Request (api-dashboard.search.brave.com, web search): `GET {base_url}/web/search?q=...&count=N`
with the key in the `X-Subscription-Token` header; `base_url` defaults to
`https://api.search.brave.com/res/v1`; `count` is at most 20. Answer: `web.results[]` with
`url`, `title`, `description` (matches marked with <strong>, removed here). A missing or wrong
token is answered 422 (`SUBSCRIPTION_TOKEN_INVALID`), a query over 400 characters or 50 words
422 (`VALIDATION`: it is cut to fit here), a spent quota 429.
"""

from __future__ import annotations

import httpx

from ._backend import BackendFailed, SearchBackend, SearchResult, pick_results
from ._http import fetch, json_answer

MAX_COUNT = 20
MAX_QUERY_CHARS, MAX_QUERY_WORDS = 400, 50


def fitted(query: str) -> str:
    """`query` within Brave's limits (the model may send up to 500 characters)."""
    return " ".join(query.split()[:MAX_QUERY_WORDS])[:MAX_QUERY_CHARS].rstrip()


class Brave(SearchBackend):
    name = "brave"
    default_base_url = "https://api.search.brave.com/res/v1"
    key_env = "BRAVE_API_KEY"

    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        assert self._key is not None  # the constructor refuses to build without one
        request = client.build_request(
            "GET", f"{self.base_url}/web/search",
            params={"q": fitted(query), "count": str(min(limit, MAX_COUNT))},
            headers={"Accept": "application/json", "X-Subscription-Token": self._key})
        try:
            _, content_type, body = await fetch(client, request)
        except BackendFailed as err:
            if err.status == 422 and b"SUBSCRIPTION_TOKEN_INVALID" in err.body:
                raise BackendFailed("refused the key, HTTP 422 SUBSCRIPTION_TOKEN_INVALID",
                                    422) from None
            raise
        data = json_answer(content_type, body)
        web = data.get("web")
        # No `web` section at all: Brave found nothing for the query.
        items = web.get("results", []) if isinstance(web, dict) else []
        return pick_results(items, limit, snippet="description")
