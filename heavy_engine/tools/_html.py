"""HTML to readable text for the model, and the bounded parser every HTML-reading tool uses.

Invariant: a parse ends within its budget, or as soon as `stop` is set, whatever the page holds.
CPython's html.parser rescans to the end of the input for every `<` that opens a construct that
never closes (`"<a " * 100_000` takes minutes), and it runs in a worker thread that a cancelled
tool call cannot kill (or on the event loop); every callback of a `BoundedParser` checks both
limits, and a pathological page calls one back for each rescan, so no page can keep a thread
busy after its tool call has ended.
"""

from __future__ import annotations

import re
import threading
import time
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "canvas", "iframe"})
_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "br", "hr",
    "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "blockquote", "pre", "form", "figure",
    "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "title",
})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed",
                   "source", "track", "wbr"})
PARSE_BUDGET_S = 3.0  # ~0.3 s per MB for ordinary pages; far more means a pathological one
TOO_SLOW_NOTE = "[the rest of the page was not read: its HTML took too long to parse]"


class ParseStopped(Exception):
    """A `BoundedParser` ran out of time or was told to stop; what it read so far is kept."""


class BoundedParser(HTMLParser):
    """An `HTMLParser` whose `check()`, called first by every `handle_*`, raises `ParseStopped`
    once `budget_s` has passed or `stop` is set."""

    def __init__(self, budget_s: float, stop: threading.Event | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self._stop_at = time.monotonic() + budget_s
        self._stop = stop

    def check(self) -> None:
        if time.monotonic() > self._stop_at or (self._stop is not None and self._stop.is_set()):
            raise ParseStopped


class _TextParser(BoundedParser):
    def __init__(self, budget_s: float, stop: threading.Event | None) -> None:
        super().__init__(budget_s, stop)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.check()
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        self.check()
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.check()
        if self._in_title:
            self.title.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(
    html: str, *, budget_s: float | None = None, stop: threading.Event | None = None
) -> tuple[str, str]:
    """(title, text) of an HTML document; whitespace collapsed, at most one blank line in a row.

    Past `budget_s` (default `PARSE_BUDGET_S`), or once `stop` is set, the text read so far
    ends with `TOO_SLOW_NOTE`.
    """
    parser = _TextParser(PARSE_BUDGET_S if budget_s is None else budget_s, stop)
    complete = True
    try:
        parser.feed(html)
        parser.close()
    except ParseStopped:
        complete = False
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not complete:
        text = f"{text}\n\n{TOO_SLOW_NOTE}".lstrip()
    return " ".join("".join(parser.title).split()), text
