"""The pure functions behind a run's sources and honest citations."""

from __future__ import annotations

import pytest

from heavy_engine.core._sources import (
    Source,
    check_citations,
    fetched_source,
    find_urls,
    search_results,
    sources_section,
    used_sources,
)

RETURNED = ["https://a.example/doc", "https://r1.example/page/"]


@pytest.mark.parametrize(
    ("answer", "marked", "unverified"),
    [
        # a URL a tool returned stays as written
        ("See https://a.example/doc.", "See https://a.example/doc.", []),
        # trailing slash, fragment and host case do not make it another URL
        ("[R](https://R1.example/page#x)", "[R](https://R1.example/page#x)", []),
        # a made-up bare URL is marked, its sentence's full stop kept after the mark
        ("Per https://made.up/x.", "Per https://made.up/x (unverified).", ["https://made.up/x"]),
        # a made-up Markdown link is marked after the link
        ("[docs](https://made.up/y) say so", "[docs](https://made.up/y) (unverified) say so",
         ["https://made.up/y"]),
        # the same made-up URL twice: both marked, listed once
        ("https://x.io and https://x.io", "https://x.io (unverified) and https://x.io (unverified)",
         ["https://x.io"]),
        # already marked: not marked twice
        ("https://x.io (unverified)", "https://x.io (unverified)", ["https://x.io"][:0]),
        # no URLs at all
        ("Just text.", "Just text.", []),
        # a URL in parentheses keeps its closing bracket outside the URL
        ("(https://made.up/z)", "(https://made.up/z (unverified))", ["https://made.up/z"]),
    ],
)
def test_check_citations_marks_what_no_tool_returned(
    answer: str, marked: str, unverified: list[str]
) -> None:
    assert check_citations(answer, RETURNED) == (marked, unverified)


@pytest.mark.parametrize(
    ("arguments", "text", "expected"),
    [
        # the final URL and title come from the tool's own header
        ('{"url": "http://a/x"}', "URL: https://b.example/y\nTitle: B\n\nbody",
         Source("https://b.example/y", "B")),
        # no header: the argument's URL, no title
        ('{"url": "https://c.example/"}', "plain text", Source("https://c.example/", "")),
        # nothing usable
        ("not json", "plain", None),
    ],
)
def test_fetched_source(arguments: str, text: str, expected: Source | None) -> None:
    assert fetched_source(arguments, text) == expected


def test_search_results_and_used_sources() -> None:
    text = ("Results for 'q':\n\n1. One\n   https://one.example/\n   snippet\n"
            "\n2. Two\n   https://two.example/t")
    found = search_results(text)
    assert found == [Source("https://one.example/", "One"), Source("https://two.example/t", "Two")]
    fetched = [Source("https://f.example/", "")]
    used = used_sources(fetched, found, ["see https://two.example/t."])
    assert used == [Source("https://f.example/", ""), Source("https://two.example/t", "Two")]


def test_sources_section_and_find_urls() -> None:
    assert sources_section([]) == ""
    assert sources_section([Source("https://a.example/p/", ""), Source("https://b.io", "B [1]")]) \
        == "**Sources**\n1. [a.example/p](https://a.example/p/)\n2. [B (1)](https://b.io)"
    assert find_urls("x https://a.b/c, and http://d.e.") == ["https://a.b/c", "http://d.e"]
