"""What a newcomer meets: a refused model stops the run at once, notes tell the truth, and
progress events carry what each agent found."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import Engine, HeavyRequest
from heavy_engine.core._events import AgentFinished, AgentStarted, ToolFinished
from heavy_engine.testing import FakeLLM, error_reply, fake_config


async def _ask(fake: FakeLLM, tmp_path: Any, **overrides: Any) -> Any:
    config = fake_config(fake.base_url, tools=["calculate"], timeouts={"request": 10},
                         **overrides)
    async with Engine(config, scratch_root=tmp_path) as engine:
        run = engine.start(HeavyRequest("Which database?", config))
        events = [e async for e in run.stream()]
        return await run, events


@pytest.mark.parametrize(("status", "says"), [
    (404, "unknown model"),  # a typo in HEAVY_MODEL
    (401, "401"),  # a wrong key
    (402, "no credits"),  # an empty account
])
async def test_a_refused_decomposition_stops_the_run_with_that_error(
    fake_llm: FakeLLM, tmp_path: Any, status: int, says: str
) -> None:
    fake_llm.enqueue(error_reply(status, "no such model"), when="decompose")
    result, events = await _ask(fake_llm, tmp_path)
    assert result.status == "failed" and says in (result.error or "")
    assert not any(isinstance(e, AgentStarted) for e in events)  # no agent was launched
    assert len(fake_llm.calls()) == 1


async def test_a_retryable_decomposition_failure_still_falls_back(
    fake_llm: FakeLLM, tmp_path: Any
) -> None:
    fake_llm.enqueue(error_reply(400, "response_format is not supported"), when="decompose")
    result, _ = await _ask(fake_llm, tmp_path, agents=2)
    assert result.status == "ok" and len(result.agents) == 2


async def test_when_every_agent_fails_no_note_claims_the_answer_uses_the_others(
    fake_llm: FakeLLM, tmp_path: Any
) -> None:
    fake_llm.enqueue(*[error_reply(400, "bad request")] * 2, when="agent")
    result, _ = await _ask(fake_llm, tmp_path, agents=2)
    assert result.status == "failed" and "All 2 agents failed" in (result.error or "")
    assert not any("uses the others" in n for n in result.notes)


async def test_progress_events_carry_findings(fake_llm: FakeLLM, tmp_path: Any) -> None:
    result, events = await _ask(fake_llm, tmp_path, agents=2)
    assert result.status == "ok"
    tools = [e for e in events if isinstance(e, ToolFinished)]
    assert tools and all(e.summary for e in tools)
    finished = [e for e in events if isinstance(e, AgentFinished)]
    assert all(e.summary and "\n" not in e.summary and len(e.summary) <= 120 for e in finished)


@pytest.mark.parametrize(("base_url", "says"), [
    # nothing listens: Ollama not started, a wrong port
    ("http://127.0.0.1:{port}/v1", "connection refused at 127.0.0.1:{port} (tried 2 times)"),
    # a typo in the host name (.invalid never resolves)
    ("http://ollama.invalid:11434/v1", "could not resolve host ollama.invalid (tried 2 times)"),
])
async def test_no_server_at_the_address_stops_the_run_after_one_retry(
    tmp_path: Any, unused_port: int, base_url: str, says: str
) -> None:
    config = fake_config(base_url.format(port=unused_port), providers={"fake": {"max_retries": 4}},
                         timeouts={"request": 60})
    async with Engine(config, scratch_root=tmp_path) as engine:
        run = engine.start(HeavyRequest("Which database?", config))
        events = [e async for e in run.stream()]
        result = await run
    assert result.status == "failed" and (result.error or "").endswith(says.format(port=unused_port))
    assert "Error" not in (result.error or "")  # no exception class names
    assert not any(isinstance(e, AgentStarted) for e in events)  # no agent retried it again
