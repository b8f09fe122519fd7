"""Progress is data: typed events a run emits, rendered alike by the CLI, Slack, Discord and SSE.

Every event has a `type` string and `as_dict()` for the wire. The last event of a run is always
`Done`, whatever happened (success, failure, timeout, cancel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Literal

from ._sources import Source
from ._types import Usage

AgentStatus = Literal["ok", "failed", "timeout", "cancelled"]
RunStatus = Literal["ok", "failed", "timeout", "cancelled"]


_PLAIN = frozenset({str, int, float, bool, type(None)})
_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _convert(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return type(value)(v if type(v) in _PLAIN else _convert(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def first_line(text: str, limit: int = 120) -> str:
    """The first non-empty line of `text` without Markdown markers, cut to `limit`."""
    line = next((ln.strip(" #>*-") for ln in text.splitlines() if ln.strip(" #>*-")), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(slots=True, frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def as_dict(self) -> dict[str, Any]:
        # Field by field: `dataclasses.asdict` deep-copies recursively, and every event of
        # every run goes through here (its cost showed in a worker's profile). Events hold
        # plain values; anything else is converted as asdict would.
        out: dict[str, Any] = {"type": self.type}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            out[name] = value if type(value) in _PLAIN else _convert(value)
        return out


@dataclass(slots=True, frozen=True)
class Accepted(Event):
    type: ClassVar[str] = "accepted"
    request_id: str
    question: str
    agents: int


@dataclass(slots=True, frozen=True)
class QuestionsReady(Event):
    type: ClassVar[str] = "questions_ready"
    questions: tuple[str, ...]
    fallback: bool = False  # True when the orchestrator's output was unusable and we padded


@dataclass(slots=True, frozen=True)
class AgentStarted(Event):
    type: ClassVar[str] = "agent_started"
    index: int
    question: str
    model: str


@dataclass(slots=True, frozen=True)
class ToolCalled(Event):
    type: ClassVar[str] = "tool_called"
    index: int
    tool: str
    arguments: str  # a short preview, never the whole payload


@dataclass(slots=True, frozen=True)
class ToolFinished(Event):
    type: ClassVar[str] = "tool_finished"
    index: int
    tool: str
    ok: bool
    elapsed_s: float
    summary: str = ""  # one line of what the tool found, or why it failed (short, never whole)


@dataclass(slots=True, frozen=True)
class AgentFinished(Event):
    """An agent ended; `status` says how. Failed, timed-out and cancelled agents end here too."""

    type: ClassVar[str] = "agent_finished"
    index: int
    status: AgentStatus
    iterations: int
    elapsed_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    summary: str = ""  # the first line of its answer, for progress views


@dataclass(slots=True, frozen=True)
class NotesCompared(Event):
    """`rounds: 2`: the surviving agents start comparing notes (one more call each)."""

    type: ClassVar[str] = "notes_compared"
    agents: int


@dataclass(slots=True, frozen=True)
class AgentRevised(Event):
    """An agent's compare-notes call ended; with `ok`, its revised finding replaced the first."""

    type: ClassVar[str] = "agent_revised"
    index: int
    ok: bool
    elapsed_s: float
    error: str | None = None


@dataclass(slots=True, frozen=True)
class SynthesisStarted(Event):
    type: ClassVar[str] = "synthesis_started"
    survivors: int


@dataclass(slots=True, frozen=True)
class SynthesisDelta(Event):
    type: ClassVar[str] = "synthesis_delta"
    text: str


@dataclass(slots=True)
class AgentSummary:
    index: int
    question: str
    model: str
    status: AgentStatus = "cancelled"
    iterations: int = 0
    elapsed_s: float = 0.0
    answer: str = ""
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    role: str | None = None
    revised: bool = False  # rounds: 2 replaced the first finding
    fetched: list[Source] = field(default_factory=list)  # pages fetch_url read
    searched: list[Source] = field(default_factory=list)  # results web_search listed

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "role": self.role,
            "revised": self.revised,
            "question": self.question,
            "model": self.model,
            "status": self.status,
            "iterations": self.iterations,
            "elapsed_s": round(self.elapsed_s, 3),
            "error": self.error,
            "usage": self.usage.as_dict(),
        }


@dataclass(slots=True)
class RunResult:
    request_id: str
    question: str
    status: RunStatus = "ok"
    answer: str = ""
    questions: list[str] = field(default_factory=list)
    agents: list[AgentSummary] = field(default_factory=list)
    llm_calls: int = 0
    elapsed_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    models: list[str] = field(default_factory=list)
    simulated: bool = False
    error: str | None = None  # one safe sentence for the user
    notes: list[str] = field(default_factory=list)  # e.g. "1 of 4 agents timed out"
    sources: list[Source] = field(default_factory=list)  # URLs tools returned and agents used
    unverified: list[str] = field(default_factory=list)  # URLs the answer cites that no tool did
    stopped_by: str | None = None  # "token budget (...)" when a budget ended the research

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "answer": self.answer,
            "questions": list(self.questions),
            "agents": [a.as_dict() for a in self.agents],
            "llm_calls": self.llm_calls,
            "elapsed_s": round(self.elapsed_s, 3),
            "usage": self.usage.as_dict(),
            "models": list(self.models),
            "simulated": self.simulated,
            "error": self.error,
            "notes": list(self.notes),
            "sources": [s.as_dict() for s in self.sources],
            "unverified": list(self.unverified),
            "stopped_by": self.stopped_by,
        }


@dataclass(slots=True, frozen=True)
class Done(Event):
    type: ClassVar[str] = "done"
    result: RunResult

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "result": self.result.as_dict()}
