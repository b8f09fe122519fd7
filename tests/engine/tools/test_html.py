"""HTML to text: readable output, and a bounded parse whatever the page throws at the parser."""

from __future__ import annotations

import threading
import time

import pytest

from heavy_engine.tools import TOO_SLOW_NOTE, html_to_text

N = 300_000  # characters: CPython's html.parser needs minutes to hours for these shapes


@pytest.mark.parametrize("html", [
    pytest.param("<a " * (N // 3), id="unclosed-start-tags"),  # each '<' rescans to the end
    pytest.param("<a" * (N // 2), id="unclosed-start-tags-no-space"),
    pytest.param("</" * (N // 2), id="unclosed-end-tags"),
    pytest.param("<?" * (N // 2), id="unclosed-processing-instructions"),
    pytest.param("<p>ok</p>" + "<a " * (N // 3), id="after-some-good-text"),
])
def test_pathological_html_is_cut_off_by_the_budget(html: str) -> None:
    start = time.monotonic()
    _title, text = html_to_text(html, budget_s=0.2)
    assert time.monotonic() - start < 5  # unbudgeted: minutes to hours
    assert text.endswith(TOO_SLOW_NOTE)


def test_the_text_read_before_the_budget_ran_out_is_kept() -> None:
    _title, text = html_to_text("<p>kept</p>" + "<a " * (N // 3), budget_s=0.2)
    assert text.startswith("kept")


def test_a_stop_signal_ends_the_parse_at_once() -> None:
    stop = threading.Event()
    stop.set()
    start = time.monotonic()
    _title, text = html_to_text("<a " * (N // 3), budget_s=60, stop=stop)
    assert time.monotonic() - start < 5 and text.endswith(TOO_SLOW_NOTE)  # not the 60 s budget


@pytest.mark.parametrize(("html", "title", "text"), [
    ("<title>T</title><p>a</p><p>b</p>", "T", "a\n\nb"),  # block tags separate paragraphs
    ("<ul><li>one</li><li>two</li></ul>", "", "- one\n\n- two"),  # list items keep a marker
    ("<script>x<y</script><style>p{}</style>shown", "", "shown"),  # no code, no styles
    ("<p>" + "word " * 100_000 + "</p>", "", ("word " * 100_000).strip()),  # big but ordinary
])
def test_ordinary_html_is_read_whole(html: str, title: str, text: str) -> None:
    assert html_to_text(html, budget_s=5) == (title, text)
