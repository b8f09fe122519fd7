"""Terminal rendering of a run's events: a live table of agents, then the answer as Markdown."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from .._events import (
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

_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "cancelled": "yellow"}


@dataclass(slots=True)
class _Row:
    question: str
    model: str = ""
    status: str = "waiting"
    tool: str = ""
    started: float = 0.0
    elapsed: float | None = None
    tokens: int = 0


class LiveView:
    def __init__(self, run_id: str, agents: int, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.out = Console()
        self.run_id = run_id
        self.rows: dict[int, _Row] = {}
        self.phase = "decomposing the question"
        self.synth_chars = 0
        self.started = time.monotonic()

    def apply(self, event: Event) -> None:
        """Fold one event into the view's state."""
        if isinstance(event, QuestionsReady):
            self.rows = {i: _Row(q) for i, q in enumerate(event.questions)}
            self.phase = "agents working"
        elif isinstance(event, AgentStarted):
            row = self.rows.setdefault(event.index, _Row(event.question))
            row.model, row.status, row.started = event.model, "thinking", time.monotonic()
        elif isinstance(event, ToolCalled):
            self.rows[event.index].tool = f"{event.tool}({event.arguments})"
        elif isinstance(event, ToolFinished):
            self.rows[event.index].tool = ""
        elif isinstance(event, AgentFinished):
            row = self.rows[event.index]
            row.status, row.elapsed, row.tool = event.status, event.elapsed_s, ""
            row.tokens = event.prompt_tokens + event.completion_tokens
        elif isinstance(event, SynthesisStarted):
            self.phase = f"synthesising {event.survivors} answers"
        elif isinstance(event, SynthesisDelta):
            self.synth_chars += len(event.text)

    def render(self) -> Group:
        table = Table(box=None, expand=True, pad_edge=False)
        for col in ("#", "status", "sub-question", "tool", "time", "tokens"):
            table.add_column(col, no_wrap=col != "sub-question")
        now = time.monotonic()
        for i, row in sorted(self.rows.items()):
            elapsed = row.elapsed if row.elapsed is not None else (
                now - row.started if row.started else 0.0)
            table.add_row(
                str(i + 1), Text(row.status, style=_STYLE.get(row.status, "cyan")),
                row.question[:90], row.tool[:40], f"{elapsed:.1f}s", str(row.tokens or ""),
            )
        header = Text(f"heavy {self.run_id} - {self.phase} - {now - self.started:.1f}s",
                      style="bold")
        if self.synth_chars:
            header.append(f" - {self.synth_chars} chars", style="dim")
        return Group(header, table)

    async def follow(self, events: AsyncIterator[Event]) -> RunResult | None:
        with Live(self.render(), console=self.console, refresh_per_second=8,
                  transient=False) as live:
            async for event in events:
                self.apply(event)
                live.update(self.render())
                if isinstance(event, Done):
                    result = event.result
                    break
            else:
                return None
        self.print_result(result)
        return result

    def print_result(self, result: RunResult) -> None:
        if result.answer:
            self.out.print(Markdown(result.answer))
        for note in result.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        self.console.print(Text(footer(result), style="dim"))


def footer(result: RunResult) -> str:
    """One line: models, agents, time, tokens, cost."""
    ok = sum(a.status == "ok" for a in result.agents)
    parts = [
        ", ".join(result.models) or "no model",
        f"{ok}/{len(result.agents)} agents",
        f"{result.elapsed_s:.1f}s",
        f"{result.usage.prompt_tokens + result.usage.completion_tokens:,} tokens",
        f"${result.usage.cost_usd:.4f}",
        f"{result.llm_calls} LLM calls",
    ]
    if result.simulated:
        parts.append("simulated")
    return " · ".join(parts)
