"""A run's agents as Slack task chunks (`chat.startStream` / `appendStream` with
`task_display_mode="plan"`). Pure functions; the streaming itself is wired by the delivery.

One task per agent, with a stable id (`agent-<n>`): title = its sub-question, status pending
→ in_progress → complete / error, details = the tool it is running, output = a one-line
finding, sources = the URLs it fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from slack_sdk.models.messages.chunk import PlanUpdateChunk, TaskUpdateChunk

from heavy_engine.progress import AgentProgress, ProgressState

from .._markdown import neutralise

TITLE_CHARS = 150
DETAIL_CHARS = 200
OUTPUT_CHARS = 200
MAX_SOURCES = 5
_STATUS = {"waiting": "pending", "running": "in_progress", "ok": "complete", "failed": "error",
           "timeout": "error", "cancelled": "error"}
_URL = re.compile(r"https?://[^\s\"'<>]+")
def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def task_id(index: int) -> str:
    return f"agent-{index + 1}"


def urls_in(tool_args: str) -> list[str]:
    """The URLs in a tool call's arguments (JSON or its preview)."""
    try:
        data = json.loads(tool_args)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("url"), str):
        return [data["url"]]
    return [u.rstrip(".,;)") for u in _URL.findall(tool_args)]


def _details(agent: AgentProgress) -> str | None:
    if agent.status == "running" and agent.tool:
        args = _short(agent.tool_args, DETAIL_CHARS - len(agent.tool) - 10)
        return neutralise(f"Running {agent.tool}" + (f": {args}" if args else ""))
    if agent.error and agent.status in ("failed", "timeout", "cancelled"):
        return neutralise(_short(agent.error, DETAIL_CHARS))
    return None


def task_chunk(agent: AgentProgress, *, finding: str | None = None,
               sources: Sequence[str] = ()) -> TaskUpdateChunk:
    """The task of one agent, as it stands."""
    output = None
    if agent.status == "ok" and finding:
        output = neutralise(_short(finding, OUTPUT_CHARS))
    elif agent.status == "timeout":
        output = "Timed out"
    elif agent.status == "cancelled":
        output = "Stopped"
    return TaskUpdateChunk(
        id=task_id(agent.index),
        title=neutralise(_short(agent.question, TITLE_CHARS)) or f"Agent {agent.index + 1}",
        status=_STATUS.get(agent.status, "pending"),
        details=_details(agent),
        output=output,
        sources=[{"type": "url", "url": u, "text": _short(u, 80)}
                 for u in list(dict.fromkeys(sources))[:MAX_SOURCES]] or None,
    )


SOURCES_TASK = "sources"
RUN_SOURCES = 10  # the answer's sources shown under the plan


def sources_task(links: Sequence[tuple[str, str]]) -> TaskUpdateChunk | None:
    """The answer's sources as the stream's URL-sources element: a finished task "Sources"
    whose sources are the run's (title, url) pairs; None without http(s) sources."""
    items = [{"type": "url", "url": u, "text": neutralise(_short(t, 80)) or _short(u, 80)}
             for t, u in links if u.startswith(("http://", "https://"))][:RUN_SOURCES]
    if not items:
        return None
    return TaskUpdateChunk(id=SOURCES_TASK, title="Sources", status="complete",
                           output=f"{len(items)} source{'s' * (len(items) != 1)}",
                           sources=items)


def plan_title(state: ProgressState) -> PlanUpdateChunk:
    title = state.phase_label
    if state.agents:
        title += f" ({state.finished_agents}/{len(state.agents)} agents finished)"
    return PlanUpdateChunk(title=title)


def task_chunks(state: ProgressState, *, findings: Mapping[int, str] | None = None,
                sources: Mapping[int, Sequence[str]] | None = None,
                ) -> list[PlanUpdateChunk | TaskUpdateChunk]:
    """The plan title, then every agent's task, in agent order."""
    findings, sources = findings or {}, sources or {}
    chunks: list[PlanUpdateChunk | TaskUpdateChunk] = [plan_title(state)]
    for index in sorted(state.agents):
        chunks.append(task_chunk(state.agents[index], finding=findings.get(index),
                                 sources=sources.get(index, ())))
    return chunks


def changed_chunks(before: Mapping[str, dict[str, object]],
                   chunks: Sequence[PlanUpdateChunk | TaskUpdateChunk],
                   ) -> list[PlanUpdateChunk | TaskUpdateChunk]:
    """Only the chunks that differ from what was sent (`before`: id or "plan" -> dict), so
    each append carries the changes, not the whole plan again."""
    out = []
    for chunk in chunks:
        key = chunk.id if isinstance(chunk, TaskUpdateChunk) else "plan"
        if before.get(key) != chunk.to_dict():
            out.append(chunk)
    return out
