"""`searxng`: a self-hosted SearXNG's JSON API, the free and private choice for a team.

Request (docs.searxng.org/dev/search_api): `GET {base_url}/search?q=...&format=json`. JSON is
answered only when `json` is listed in `search.formats` of the instance's settings.yml, else
HTTP 403 (deploy/searxng-settings.yml enables it). Answer: `results[]` with `url`, `title`,
`content`; `unresponsive_engines` lists `[engine, reason]` pairs of the engines that failed.
"""

from __future__ import annotations

import httpx

from ._backend import BackendFailed, SearchBackend, SearchResult, pick_results
from ._http import fetch, json_answer


class SearXNG(SearchBackend):
    name = "searxng"
    default_base_url = "http://localhost:8080"  # no public default: a team runs its own

    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        request = client.build_request(
            "GET", f"{self.base_url}/search", params={"q": query, "format": "json"},
            headers={"Accept": "application/json"})
        try:
            _, content_type, body = await fetch(client, request)
        except BackendFailed as err:
            if err.status == 403:
                raise BackendFailed("refused JSON, HTTP 403: add json to search.formats in "
                                    "its settings.yml", 403) from None
            raise
        data = json_answer(content_type, body)
        results = pick_results(data.get("results"), limit, snippet="content")
        if not results and (down := _engines_down(data.get("unresponsive_engines"))):
            # An instance whose upstream engines are all blocked answers 200 with nothing.
            raise BackendFailed(f"no engine answered: {down}")
        return results


def _engines_down(value: object) -> str:
    if not isinstance(value, list):
        return ""
    names = [str(e[0]) + (f": {e[1]}" if len(e) > 1 else "") for e in value
             if isinstance(e, list) and e]
    return ", ".join(names[:5])
