"""Terminal rendering of a run: a live table of agents, the synthesis as it streams, then the
answer as Markdown.

The live view is drawn from `ProgressState` on every refresh (Rich calls `render()` a few times a
second), not only when an event arrives, so clocks tick while a slow model thinks. Log lines
written meanwhile are held back and printed after the view, never inside it.

`showing()` puts the view up before the engine is even imported (`heavy ask` draws its first
frame within a few hundred ms, then loads the rest under it). A run that did not answer is
drawn as what it is (`failed`, `timeout`, `cancelled`), and its reason is printed once.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..progress import ProgressState
from ..text import footer

if TYPE_CHECKING:
    from .. import Event, RunResult

_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "cancelled": "yellow",
          "waiting": "dim"}
_UNANSWERED = {"failed": "failed", "timeout": "timed out", "cancelled": "cancelled"}
Clock = Callable[[], float]


class LiveView:
    def __init__(
        self,
        run_id: str,
        console: Console | None = None,
        *,
        out: Console | None = None,
        clock: Clock = time.monotonic,
        refresh_per_second: float = 8,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.out = out or Console()
        self.run_id = run_id
        self.clock = clock
        self.refresh_per_second = refresh_per_second
        self.state = ProgressState(started_at=clock())
        self.interrupted = False

    def render(self) -> RenderableType:
        """The view at this moment (called from Rich's refresh thread as well)."""
        state, now = self.state, self.clock()
        agents = sorted(list(state.agents.values()), key=lambda a: a.index)
        table = Table(box=None, expand=True, pad_edge=False)
        for col in ("#", "status", "sub-question", "tool", "last finding", "time", "tokens"):
            table.add_column(col, no_wrap=col != "sub-question", overflow="ellipsis",
                             justify="right" if col in ("time", "tokens") else "left",
                             ratio={"sub-question": 3, "last finding": 2}.get(col))
        for agent in agents:
            table.add_row(
                str(agent.index + 1),
                Text(agent.status, style=_STYLE.get(agent.status, "cyan")),
                agent.question[:120],
                f"{agent.tool}({agent.tool_args})"[:36] if agent.tool else "",
                Text(agent.finding[:100], style="red" if agent.error else "dim"),
                f"{agent.elapsed(now):.1f}s",
                f"{agent.tokens:,}" if agent.tokens else "",
            )
        phase, style = state.phase, "bold"
        if self.interrupted:
            phase, style = "interrupted", "bold yellow"
        elif state.result is not None and state.result.status != "ok":
            phase, style = state.result.status, f"bold {_STYLE.get(state.result.status, 'red')}"
        elapsed = state.result.elapsed_s if state.result is not None else state.elapsed(now)
        run = f" {self.run_id}" if self.run_id else ""
        header = Text(f"heavy{run} · {phase} · {elapsed:.1f}s", style)
        parts: list[RenderableType] = [header, table] if agents else [header]
        if state.synthesis and state.result is None:
            parts += [Rule("synthesis", style="dim"), Text(self._tail(state.synthesis,
                                                                      len(agents)))]
        return Group(*parts)

    def _tail(self, text: str, rows: int) -> str:
        """The end of the synthesis so far, as many lines as fit under the table."""
        width = max(20, self.console.width)
        room = max(3, min(20, self.console.height - rows - 5))
        lines: list[str] = []
        for line in text.splitlines() or [""]:
            lines += textwrap.wrap(line, width) or [""]
        return "\n".join(lines[-room:])

    async def follow(self, events: AsyncIterator[Event]) -> RunResult | None:
        """Show the view while `events` come, then the result below it."""
        with self.showing():
            await self.consume(events)
        return self.state.result

    async def consume(self, events: AsyncIterator[Event]) -> None:
        async for event in events:
            self.state.apply(event, self.clock())

    @contextmanager
    def showing(self) -> Iterator[None]:
        """The live view on screen for the block; after it, the held log lines and the result
        (not after Ctrl-C: the last frame already says where the run was)."""
        try:
            with _held_logs() as held:
                with Live(console=self.console, get_renderable=self.render,
                          refresh_per_second=self.refresh_per_second):
                    try:
                        yield
                    except KeyboardInterrupt:
                        self.interrupted = True  # the last frame says so
                        raise
                if not self.console.is_terminal:
                    self.console.line()  # Rich ends the last frame with a newline only on ttys
        finally:
            for record in held:  # now below the view, in the order they came
                logging.getLogger(record.name).handle(record)
        if self.state.result is not None:
            self.print_result(self.state.result)

    def print_result(self, result: RunResult) -> None:
        from rich.markdown import Markdown  # not before the first frame: markdown-it is slow

        if result.answer:
            self.out.print(Markdown(result.answer))
        for note in result.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        if result.agents:  # a run stopped before any agent has nothing to count
            self.console.print(Text(f"{footer(result)} · {result.llm_calls} LLM calls",
                                    style="dim"))
        if result.status != "ok":
            what = _UNANSWERED.get(result.status, result.status)
            self.console.print(Text(f"heavy: {what}: {result.error}", style="red"),
                               soft_wrap=True)


class _Holder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _held_logs() -> Iterator[list[logging.LogRecord]]:
    """While the live view is up, the root logger's records are kept instead of written."""
    root = logging.getLogger()
    holder = _Holder()
    saved = root.handlers[:]
    root.handlers = [holder]
    try:
        yield holder.records
    finally:
        root.handlers = saved
