"""`heavy ask`'s live view: drawn from the state at every refresh, so clocks tick between events.

A fake clock makes the two moments exact; a recording Rich console captures what was drawn.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator

from rich.console import Console

from heavy_engine.cli._render import LiveView
from heavy_engine.core._events import (
    Accepted,
    AgentFinished,
    AgentStarted,
    Done,
    Event,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
    ToolCalled,
    ToolFinished,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _console(terminal: bool = False) -> Console:
    return Console(file=io.StringIO(), record=True, width=140, height=40,
                   force_terminal=terminal, color_system=None)


def _text(view: LiveView, console: Console) -> str:
    console.print(view.render())
    return console.export_text()


def _view(clock: FakeClock) -> tuple[LiveView, Console]:
    console = _console()
    view = LiveView("run1", console, out=_console(), clock=clock)
    for event in (Accepted(request_id="run1", question="Which database?", agents=2),
                  QuestionsReady(questions=("Key facts?", "Trade-offs?")),
                  AgentStarted(index=0, question="Key facts?", model="m"),
                  AgentStarted(index=1, question="Trade-offs?", model="m"),
                  ToolCalled(index=0, tool="web_search", arguments='{"query": "sqlite"}')):
        view.state.apply(event, clock())
    return view, console


def test_the_clocks_move_between_events() -> None:
    clock = FakeClock()
    view, console = _view(clock)
    clock.now += 1.0
    at_1s = _text(view, console)
    clock.now += 2.0  # no event in between: a slow model is thinking
    at_3s = _text(view, console)
    assert "researching · 1.0s" in at_1s and "researching · 3.0s" in at_3s
    row = next(line for line in at_3s.splitlines() if line.startswith("1 "))
    assert "running" in row and "web_search" in row and row.rstrip().endswith("3.0s")


def test_tool_findings_and_errors_show_per_agent() -> None:
    clock = FakeClock()
    view, console = _view(clock)
    view.state.apply(ToolFinished(index=0, tool="web_search", ok=True, elapsed_s=0.4,
                                  summary="SQLite handles 100k writes/s"), clock())
    view.state.apply(AgentFinished(index=1, status="failed", iterations=1, elapsed_s=0.5,
                                   error="unknown model 'x' (404)"), clock())
    text = _text(view, console)
    assert "web_search: SQLite handles 100k writes/s" in text
    assert "unknown model 'x' (404)" in text and "failed" in text


def test_the_synthesis_streams_into_the_view_then_gives_way_to_the_answer() -> None:
    clock = FakeClock()
    view, console = _view(clock)
    view.state.apply(SynthesisStarted(survivors=2), clock())
    view.state.apply(SynthesisDelta(text="## Verdict\n\nPick SQLite for one "), clock())
    assert "synthesising" in _text(view, console) and "Pick SQLite for one" in _text(view, console)
    view.state.apply(Done(result=RunResult("run1", "Which database?", answer="x")), clock())
    assert "Pick SQLite" not in _text(view, _console())  # the final answer is printed below


async def _slow_run(log_during: bool) -> AsyncIterator[Event]:
    yield Accepted(request_id="run1", question="Which database?", agents=1)
    yield QuestionsReady(questions=("Which database?",))
    yield AgentStarted(index=0, question="Which database?", model="m")
    if log_during:
        logging.getLogger("heavy.engine").warning("decomposition failed; using fallbacks")
    await asyncio.sleep(0.5)  # nothing happens for a while
    yield AgentFinished(index=0, status="ok", iterations=1, elapsed_s=0.5, summary="SQLite.")
    yield SynthesisStarted(survivors=1)
    yield SynthesisDelta(text="Use SQLite.")
    yield Done(result=RunResult("run1", "Which database?", answer="Use SQLite."))


async def test_the_live_view_redraws_without_events() -> None:
    console = _console(terminal=True)
    view = LiveView("run1", console, out=_console(), refresh_per_second=20)
    result = await view.follow(_slow_run(log_during=False))
    assert result is not None and result.answer == "Use SQLite."
    drawn = console.export_text()
    # Several different clock readings while the agent ran and no event came.
    clocks = set(re.findall(r"heavy run1 · researching · (\d+\.\ds)", drawn))
    assert len(clocks) >= 3, drawn


async def test_warnings_are_held_until_the_view_is_done() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        console = _console(terminal=True)
        view = LiveView("run1", console, out=_console(), refresh_per_second=20)
        events = _slow_run(log_during=True)
        first = [await anext(events) for _ in range(3)]  # up to AgentStarted

        async def rest() -> AsyncIterator[Event]:
            for event in first:
                yield event
            async for event in events:
                assert stream.getvalue() == ""  # nothing written while the view is up
                yield event

        await view.follow(rest())
    finally:
        root.removeHandler(handler)
    assert "decomposition failed; using fallbacks" in stream.getvalue()
    assert "decomposition failed" not in console.export_text()
