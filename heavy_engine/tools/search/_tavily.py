"""`tavily`: Tavily's search API, built for LLM agents.

Request (docs.tavily.com/api-reference): `POST {base_url}/search` with a JSON body
`{"query": ..., "max_results": N, "search_depth": "basic"}` and the key as
`Authorization: Bearer tvly-...`; `base_url` defaults to `https://api.tavily.com`.
`max_results` is at most 20. Answer: `results[]` with `url`, `title`, `content` (and `score`).
A missing or wrong key is answered 401, throttling 429, a spent plan 432 or 433.
"""

from __future__ import annotations

import httpx

from ._backend import SearchBackend, SearchResult, pick_results
from ._http import fetch, json_answer

MAX_RESULTS = 20


class Tavily(SearchBackend):
    name = "tavily"
    default_base_url = "https://api.tavily.com"
    key_env = "TAVILY_API_KEY"

    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        request = client.build_request(
            "POST", f"{self.base_url}/search",
            json={"query": query, "max_results": min(limit, MAX_RESULTS),
                  "search_depth": "basic"},
            headers={"Accept": "application/json", "Authorization": f"Bearer {self._key}"})
        _, content_type, body = await fetch(client, request)
        data = json_answer(content_type, body)
        return pick_results(data.get("results"), limit, snippet="content")
