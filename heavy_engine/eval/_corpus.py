"""A local document corpus served to `web_search` and `fetch_url`, so an eval runs offline.

The two tools keep the built-in names and result formats (numbered `title` / URL lines; a page
headed by `URL:` and `Title:`), so the engine records sources exactly as it does on the web.
Documents live at `https://corpus.heavy.invalid/<id>` (`.invalid` never resolves).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from ..tools import Tool, ToolContext, ToolFailed, ToolRegistry, format_results
from ..tools.search import SearchResult

CORPUS_HOST = "https://corpus.heavy.invalid/"
_WORD = re.compile(r"[a-z0-9]+(?:[.,'-][a-z0-9]+)*")
# Words that say nothing about which document is meant (incl. the engine's angle wording).
_STOP = frozenset("""a an and are as at be by for from has have how in into is it its of on or
the this to was what when where which who whom why with does did do many much main key facts
background part angle answer question directly thoroughly evidence relevant figures usual
""".split())


def terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(slots=True, frozen=True)
class Document:
    id: str
    title: str
    text: str
    url: str = ""

    @property
    def address(self) -> str:
        return self.url or CORPUS_HOST + self.id


class Corpus:
    """Documents and a small TF-IDF search over them (deterministic: ties go by id)."""

    def __init__(self, docs: list[Document]) -> None:
        self.docs = sorted(docs, key=lambda d: d.id)
        self.by_url = {d.address: d for d in self.docs}
        self._terms = {d.id: Counter(terms(f"{d.title} {d.title} {d.text}")) for d in self.docs}
        df = Counter(t for c in self._terms.values() for t in c)
        self._idf = {t: math.log(1 + len(self.docs) / n) for t, n in df.items()}

    @classmethod
    def load(cls, path: Path) -> Corpus:
        """JSONL, one `{"id", "title", "text"}` per line (`url` optional)."""
        docs = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                docs.append(Document(str(data["id"]), str(data.get("title") or data["id"]),
                                     str(data["text"]), str(data.get("url") or "")))
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{n}: expected an object with id and text ({err})") from None
        return cls(docs)

    def search(self, query: str, limit: int) -> list[Document]:
        wanted = set(terms(query))
        scored = []
        for d in self.docs:
            score = sum(self._idf[t] * (1 + math.log(self._terms[d.id][t]))
                        for t in wanted if t in self._terms[d.id])
            if score > 0:
                scored.append((-score, d.id, d))
        return [d for *_, d in sorted(scored)[:limit]]

    def url_of(self, ref: str) -> str:
        """A gold reference (a document id or URL) as the URL tools return."""
        return ref if ref.startswith(("http://", "https://")) else CORPUS_HOST + ref


class _SearchParams(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="What to search for.")
    max_results: int | None = Field(default=None, ge=1, le=20)


class CorpusSearch(Tool):
    name = "web_search"
    description = ("Search the document collection and return the top results with title, URL "
                   "and snippet. Use fetch_url to read a result.")
    Params = _SearchParams

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    async def run(self, params: _SearchParams, ctx: ToolContext) -> str:
        limit = min(params.max_results or ctx.settings.web_search_max_results,
                    ctx.settings.web_search_max_results)
        found = self.corpus.search(params.query, limit)
        return format_results(params.query, [
            SearchResult(d.title, d.address, d.text[:160]) for d in found])


class _FetchParams(BaseModel):
    url: str = Field(description="The URL of the document to read.")


class CorpusFetch(Tool):
    name = "fetch_url"
    description = "Read a document of the collection by its URL and return its text."
    Params = _FetchParams

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    async def run(self, params: _FetchParams, ctx: ToolContext) -> str:
        doc = self.corpus.by_url.get(params.url.strip())
        if doc is None:
            raise ToolFailed(f"{params.url} is not in the document collection")
        return f"URL: {doc.address}\nTitle: {doc.title}\n\n{doc.text}"


def corpus_tools(corpus: Corpus, base: ToolRegistry) -> ToolRegistry:
    """`base` with `web_search` and `fetch_url` answered from `corpus` instead of the web."""
    registry = ToolRegistry()
    registry.register(CorpusSearch(corpus))
    registry.register(CorpusFetch(corpus))
    for name in base.names():
        tool = base.get(name)
        if tool is not None and name not in ("web_search", "fetch_url"):
            registry.register(tool)
    return registry
