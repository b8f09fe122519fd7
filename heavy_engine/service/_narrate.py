"""A job's followed events as one line of text each, for clients that show progress as text:
the OpenAI endpoint's `reasoning_content` and MCP's progress notifications. Pure: the events
arrive as `(type, data)` dicts (from a live run or replayed from the database alike)."""

from __future__ import annotations

from typing import Any

from ..core import first_line

# The events an MCP client is told about: one per phase and per agent started/finished.
MILESTONES = frozenset({"questions_ready", "agent_started", "agent_finished", "notes_compared",
                        "synthesis_started"})


def _agent(data: dict[str, Any]) -> str:
    return f"Agent {int(data.get('index', 0)) + 1}"


def narrate(kind: str, data: dict[str, Any]) -> str | None:
    """One line (no newline) for an event a person would want to see; None for the others
    (the answer's own text, `done`, a running job's status)."""
    if kind == "status":
        if data.get("status") == "queued" and data.get("position"):
            return f"Queued: position {data['position']}"
        return None
    if kind == "questions_ready":
        questions = [str(q) for q in data.get("questions", [])]
        listed = "; ".join(f"{i}. {first_line(q, 80)}" for i, q in enumerate(questions, 1))
        return f"Planned {len(questions)} sub-question{'s' * (len(questions) != 1)}: {listed}"
    if kind == "agent_started":
        return f"{_agent(data)} started: {first_line(str(data.get('question', '')), 160)}"
    if kind == "tool_called":
        return f"{_agent(data)} calls {data.get('tool')}({first_line(str(data.get('arguments', '')), 100)})"
    if kind == "tool_finished":
        summary = first_line(str(data.get("summary") or ""), 160)
        outcome = "ok" if data.get("ok") else "failed"
        return f"{_agent(data)} {data.get('tool')} {outcome}" + (f": {summary}" if summary else "")
    if kind == "agent_finished":
        status, elapsed = data.get("status"), float(data.get("elapsed_s") or 0.0)
        detail = data.get("error") if status != "ok" else data.get("summary")
        line = f"{_agent(data)} finished ({status}, {elapsed:.1f} s)"
        return line + (f": {first_line(str(detail), 160)}" if detail else "")
    if kind == "notes_compared":
        return f"{data.get('agents')} agents compare notes"
    if kind == "agent_revised":
        return f"{_agent(data)} {'revised its finding' if data.get('ok') else 'kept its finding'}"
    if kind == "synthesis_started":
        survivors = int(data.get("survivors") or 0)
        whose = "1 agent's" if survivors == 1 else f"{survivors} agents'"
        return f"Writing the answer from {whose} findings"
    return None
