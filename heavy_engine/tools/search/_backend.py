"""The search back-end interface: one small async method, the same for built-ins and plugins.

A back-end is built per search by its factory, `(SearchBackendConfig, env) -> SearchBackend` (a
subclass with that constructor will do), and registered in the `heavy.search` entry-point group.
It turns one query into at most `limit` results and raises `BackendFailed` when it cannot
(throttled, down, a challenge page, an answer it does not understand); the caller then asks the
next configured back-end. Its key stays inside it: no message or log line may carry it.
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from ...core import SearchBackendConfig

SNIPPET_CHARS = 400  # a snippet is a teaser; fetch_url reads the page
_TAG = re.compile(r"<[^>]{0,200}>")


@dataclass(slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str


class BackendFailed(Exception):
    """The back-end did not answer usefully; the message says why, for a log and the model.
    `status` is the HTTP status when one was answered; `rest_s`, set when it throttled us (429,
    a bot-check page), how long to leave it alone."""

    def __init__(self, reason: str, status: int | None = None, *,
                 rest_s: float | None = None, body: bytes = b"") -> None:
        super().__init__(reason)
        self.status = status
        self.rest_s = rest_s
        self.body = body  # the start of an error answer, for the back-end to read; never shown


class SearchBackend(ABC):
    """One search API. `name` is its registered name; `key_env` the default variable of its key
    (None: it needs none)."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    key_env: ClassVar[str | None] = None

    def __init__(self, config: SearchBackendConfig, env: Mapping[str, str]) -> None:
        self.base_url = (config.base_url or self.default_base_url).rstrip("/")
        variable = config.api_key_env or self.key_env
        self._key = env.get(variable) if variable else None
        if variable and not self._key:
            raise BackendFailed(f"{variable} is not set")

    @abstractmethod
    async def search(self, client: httpx.AsyncClient, query: str, limit: int) -> list[SearchResult]:
        """At most `limit` results for `query`, best first; `BackendFailed` when it cannot."""

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self.base_url}>"


def one_line(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Text without HTML tags or entities (Brave marks matches with <strong>), on one line."""
    flat = " ".join(html.unescape(_TAG.sub("", text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def pick_results(
    items: Any, limit: int, *, snippet: str, title: str = "title", url: str = "url"
) -> list[SearchResult]:
    """Results from a JSON list of objects; items without an http(s) URL are skipped."""
    if not isinstance(items, list):
        raise BackendFailed("answered without a list of results")
    out: list[SearchResult] = []
    for item in _objects(items):
        link = item.get(url)
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            continue
        name = item.get(title)
        text = item.get(snippet)
        out.append(SearchResult(one_line(name if isinstance(name, str) else "", 200) or link,
                                link, one_line(text if isinstance(text, str) else "")))
        if len(out) >= limit:
            break
    return out


def _objects(items: Iterable[Any]) -> Iterable[dict[str, Any]]:
    return (i for i in items if isinstance(i, dict))
