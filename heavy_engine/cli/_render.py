"""Terminal rendering of a run: a live table of agents, the synthesis as it streams, then the
answer as Markdown.

The live view is drawn from `ProgressState` on every refresh (Rich calls `render()` a few times a
second), not only when an event arrives, so clocks tick while a slow model thinks. Log lines
written meanwhile are held back and printed after the view, never inside it.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .. import Done, Event, RunResult
from ..progress import ProgressState
from ..text import footer

_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "cancelled": "yellow",
          "waiting": "dim"}
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
        header = Text(f"heavy {self.run_id} · {state.phase} · {state.elapsed(now):.1f}s",
                      "bold")
        parts: list[RenderableType] = [header, table]
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
        result = None
        with _held_logs() as held, Live(console=self.console, get_renderable=self.render,
                                        refresh_per_second=self.refresh_per_second):
            async for event in events:
                self.state.apply(event, self.clock())
                if isinstance(event, Done):
                    result = event.result
        if not self.console.is_terminal:
            self.console.line()  # Rich ends the last frame with a newline only on terminals
        for record in held:  # now below the view, in the order they came
            logging.getLogger(record.name).handle(record)
        if result is not None:
            self.print_result(result)
        return result

    def print_result(self, result: RunResult) -> None:
        if result.answer:
            self.out.print(Markdown(result.answer))
        for note in result.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        self.console.print(Text(f"{footer(result)} · {result.llm_calls} LLM calls", style="dim"))


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
