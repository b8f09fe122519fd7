"""Terminal rendering of a run: a live table of agents, then the answer as Markdown."""

from __future__ import annotations

from collections.abc import AsyncIterator

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from .. import Done, Event, RunResult
from ..progress import ProgressState
from ..text import footer

_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "cancelled": "yellow"}


class LiveView:
    def __init__(self, run_id: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.out = Console()
        self.run_id = run_id
        self.state = ProgressState()

    def render(self) -> Group:
        state = self.state
        table = Table(box=None, expand=True, pad_edge=False)
        for col in ("#", "status", "sub-question", "tool", "time", "tokens"):
            table.add_column(col, no_wrap=col != "sub-question")
        for i, agent in sorted(state.agents.items()):
            table.add_row(
                str(i + 1),
                Text(agent.status, style=_STYLE.get(agent.status, "cyan")),
                agent.question[:90],
                f"{agent.tool}({agent.tool_args})"[:40] if agent.tool else "",
                f"{agent.elapsed(state.elapsed() + state.started_at):.1f}s",
                f"{agent.tokens:,}" if agent.tokens else "",
            )
        header = Text(f"heavy {self.run_id} · {state.phase} · {state.elapsed():.1f}s", "bold")
        if state.synthesis:
            header.append(f" · {len(state.synthesis)} chars", style="dim")
        return Group(header, table)

    async def follow(self, events: AsyncIterator[Event]) -> RunResult | None:
        result = None
        with Live(self.render(), console=self.console, refresh_per_second=8) as live:
            async for event in events:
                self.state.apply(event)
                live.update(self.render())
                if isinstance(event, Done):
                    result = event.result
        if result is not None:
            self.print_result(result)
        return result

    def print_result(self, result: RunResult) -> None:
        if result.answer:
            self.out.print(Markdown(result.answer))
        for note in result.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        self.console.print(Text(f"{footer(result)} · {result.llm_calls} LLM calls", style="dim"))
