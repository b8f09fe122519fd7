"""A model turn asking for more tool calls than the per-turn cap: the rest are answered, not run
(issue 10, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavy_engine.core._engine import Engine, HeavyRequest
from heavy_engine.core._events import ToolCalled
from heavy_engine.testing import FakeLLM, fake_config, tool_call_reply


def tool_results(fake: FakeLLM) -> list[str]:
    body = fake.calls("agent")[-1].body
    assert body is not None
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize(("cap", "asked"), [
    (None, 600),  # the default cap, 16
    (3, 5),  # an operator's own cap
    (16, 16),  # exactly at the cap: all run
])
async def test_calls_past_the_cap_are_not_run(
    fake_llm: FakeLLM, tmp_path: Path, cap: int | None, asked: int
) -> None:
    fake_llm.enqueue(tool_call_reply(*[("calculate", {"expression": f"{i} + 1"})
                                       for i in range(asked)]), when="agent")
    settings = {} if cap is None else {"max_calls_per_turn": cap}
    config = fake_config(fake_llm.base_url, agents=1, tool_settings=settings)
    async with Engine(config, scratch_root=tmp_path) as engine:
        run = engine.start(HeavyRequest("Add many numbers.", config))
        result = await run
    assert result.status == "ok", result.error
    limit = cap or 16
    results = tool_results(fake_llm)
    assert len(results) == asked  # every call id gets an answer, as the API requires
    assert results[:min(limit, asked)] == [str(i + 1) for i in range(min(limit, asked))]
    refused = results[limit:]
    assert all(r == f"error: too many tool calls in one turn (at most {limit}); this one was "
                    "not run" for r in refused), refused[:2]
    assert sum(isinstance(e, ToolCalled) for e in run.events) == min(limit, asked)
    assert result.llm_calls == 2  # one agent: its two turns, as without a cap
