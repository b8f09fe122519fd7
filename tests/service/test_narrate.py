"""A followed job's events as the lines clients show (OpenAI reasoning, MCP progress)."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine.service._narrate import MILESTONES, narrate


@pytest.mark.parametrize(("kind", "data", "line"), [
    ("status", {"status": "queued", "position": 3}, "Queued: position 3"),  # waiting its turn
    ("status", {"status": "running", "position": None}, None),  # the events say more
    ("questions_ready", {"questions": ["What is A?", "What is B?"]},
     "Planned 2 sub-questions: 1. What is A?; 2. What is B?"),
    ("questions_ready", {"questions": ["Only one"]}, "Planned 1 sub-question: 1. Only one"),
    ("agent_started", {"index": 0, "question": "## What is A?\nmore"},
     "Agent 1 started: What is A?"),  # first line, Markdown stripped
    ("tool_called", {"index": 1, "tool": "fetch_url", "arguments": '{"url": "x"}'},
     'Agent 2 calls fetch_url({"url": "x"})'),
    ("tool_finished", {"index": 1, "tool": "fetch_url", "ok": False, "summary": "404"},
     "Agent 2 fetch_url failed: 404"),
    ("agent_finished", {"index": 2, "status": "ok", "elapsed_s": 3.21, "summary": "A is B."},
     "Agent 3 finished (ok, 3.2 s): A is B."),
    ("agent_finished", {"index": 0, "status": "timeout", "elapsed_s": 60, "error": "slow",
                        "summary": "ignored"}, "Agent 1 finished (timeout, 60.0 s): slow"),
    ("notes_compared", {"agents": 3}, "3 agents compare notes"),
    ("agent_revised", {"index": 0, "ok": True}, "Agent 1 revised its finding"),
    ("synthesis_started", {"survivors": 1}, "Writing the answer from 1 agent's findings"),
    ("synthesis_delta", {"text": "The answer"}, None),  # content, not progress
    ("done", {"result": {}}, None),  # the end is said otherwise
])
def test_lines(kind: str, data: dict[str, Any], line: str | None) -> None:
    assert narrate(kind, data) == line


def test_every_milestone_has_a_line() -> None:
    samples = {"questions_ready": {"questions": ["q"]}, "agent_started": {"question": "q"},
               "agent_finished": {"status": "ok"}, "notes_compared": {"agents": 2},
               "synthesis_started": {"survivors": 2}}
    assert set(samples) == MILESTONES
    assert all(narrate(kind, data) for kind, data in samples.items())
