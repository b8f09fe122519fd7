"""`ProgressState`: a run's events folded into what a progress view shows.

The CLI, Slack and Discord all render from this one state, so they agree on what "agent 3 is
running `fetch_url`" means. Pure: `apply()` takes an event and a clock reading, nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .core import (
    Accepted,
    AgentFinished,
    AgentRevised,
    AgentStarted,
    Done,
    Event,
    NotesCompared,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
    ToolCalled,
    ToolFinished,
)


@dataclass(slots=True)
class AgentProgress:
    index: int
    question: str
    model: str = ""
    status: str = "waiting"  # waiting | running | ok | failed | timeout | cancelled
    tool: str | None = None  # the tool running now (the latest, when several run at once)
    tool_args: str = ""
    running_tools: list[str] = field(default_factory=list)
    tools_used: int = 0
    started_at: float | None = None
    elapsed_s: float | None = None  # set when finished
    tokens: int = 0
    error: str | None = None
    finding: str = ""  # the latest thing it found: a tool's result, its answer or its error
    revising: bool = False  # rounds: 2, its compare-notes call is running
    revised: bool = False

    def elapsed(self, now: float) -> float:
        if self.elapsed_s is not None:
            return self.elapsed_s
        return now - self.started_at if self.started_at is not None else 0.0


@dataclass(slots=True)
class ProgressState:
    # starting | decomposing | researching | comparing (rounds: 2) | synthesising | done
    phase: str = "starting"
    question: str = ""
    questions: list[str] = field(default_factory=list)
    agents: dict[int, AgentProgress] = field(default_factory=dict)
    synthesis: str = ""
    started_at: float = field(default_factory=time.monotonic)
    result: RunResult | None = None
    version: int = 0  # bumps on every change: renderers skip identical redraws

    def apply(self, event: Event, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.version += 1
        if isinstance(event, Accepted):
            self.question, self.phase = event.question, "decomposing"
        elif isinstance(event, QuestionsReady):
            self.questions = list(event.questions)
            self.agents = {i: AgentProgress(i, q) for i, q in enumerate(event.questions)}
            self.phase = "researching"
        elif isinstance(event, AgentStarted):
            agent = self.agents.setdefault(event.index, AgentProgress(event.index, event.question))
            agent.model, agent.status, agent.started_at = event.model, "running", now
        elif isinstance(event, ToolCalled):
            agent = self.agents[event.index]
            agent.tool, agent.tool_args = event.tool, event.arguments
            agent.running_tools.append(event.tool)
            agent.tools_used += 1
        elif isinstance(event, ToolFinished):
            agent = self.agents[event.index]
            if event.tool in agent.running_tools:
                agent.running_tools.remove(event.tool)
            agent.tool = agent.running_tools[-1] if agent.running_tools else None
            if event.summary:
                agent.finding = f"{event.tool}: {event.summary}"
        elif isinstance(event, AgentFinished):
            agent = self.agents[event.index]
            agent.status, agent.elapsed_s, agent.tool = event.status, event.elapsed_s, None
            agent.running_tools.clear()
            agent.tokens = event.prompt_tokens + event.completion_tokens
            agent.error = event.error
            agent.finding = event.error or event.summary or agent.finding
        elif isinstance(event, NotesCompared):
            self.phase = "comparing"
            for agent in self.agents.values():
                agent.revising = agent.status == "ok"
        elif isinstance(event, AgentRevised):
            agent = self.agents[event.index]
            agent.revising, agent.revised = False, event.ok
        elif isinstance(event, SynthesisStarted):
            self.phase = "synthesising"
        elif isinstance(event, SynthesisDelta):
            self.synthesis += event.text
        elif isinstance(event, Done):
            self.phase, self.result = "done", event.result

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.started_at

    @property
    def finished_agents(self) -> int:
        return sum(a.status not in ("waiting", "running") for a in self.agents.values())

    @property
    def phase_label(self) -> str:
        """The phase in words, the same on every front end."""
        if self.phase == "comparing":
            left = sum(a.revising for a in self.agents.values())
            return f"Comparing notes ({left} agent{'s' * (left != 1)} revising)"
        return {"starting": "Starting", "decomposing": "Planning the sub-questions",
                "researching": "Researching", "synthesising": "Writing the answer",
                "done": "Done"}.get(self.phase, self.phase)

__all__ = ["AgentProgress", "ProgressState"]
