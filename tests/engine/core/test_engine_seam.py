"""The orchestrator with its providers handed in (`Engine(providers=...)`): no socket at all.

End-to-end behaviour over HTTP is in test_engine.py (FakeLLM); here every model call goes to a
`MockProvider` handler, the way httpx tests hand a client `MockTransport(handler)`.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import (
    ChatRequest,
    Completion,
    Engine,
    HeavyConfig,
    HeavyRequest,
    ProviderError,
    ToolCall,
    Usage,
)
from heavy_engine.testing import MockProvider


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any name lookup or connection during a test here is a failure of the seam."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a test of the provider seam reached for the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield


def _config(**fields: Any) -> HeavyConfig:
    # The default provider points at a server that does not exist: only the seam can answer.
    base = {"providers": {"main": {"base_url": "https://llm.invalid/v1"},
                          "side": {"base_url": "https://other.invalid/v1"}},
            "provider": "main", "model": "m/main", "tools": []}
    return HeavyConfig.model_validate({**base, **fields})


def _brain(request: ChatRequest) -> Completion | str:
    """A tiny deterministic model: two sub-questions, echoing agents, a joining synthesis."""
    if request.purpose == "decompose":
        return json.dumps({"questions": ["Why is the sky blue?", "Why are sunsets red?"]})
    last = request.messages[-1]["content"]
    if request.purpose == "agent":
        return Completion(content=f"answer to: {last}", model=request.model,
                          usage=Usage(prompt_tokens=10, completion_tokens=5, calls=1))
    return "Synthesis: " + " | ".join(
        line for line in last.splitlines() if line.startswith("answer to:"))


async def test_a_whole_run_goes_through_the_handed_in_provider(tmp_path: Path) -> None:
    mock = MockProvider(_brain)
    config = _config(agents=2)
    async with Engine(config, providers={"main": mock}, scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Light and colour", config))
    assert result.status == "ok", result.error
    assert result.questions == ["Why is the sky blue?", "Why are sunsets red?"]
    assert result.answer == ("Synthesis: answer to: Why is the sky blue? | "
                             "answer to: Why are sunsets red?")
    assert sorted(r.purpose for r in mock.history) == ["agent", "agent", "decompose", "synthesis"]
    assert result.usage.prompt_tokens == 20  # the agents' reported usage is accounted
    assert {r.model for r in mock.history} == {"m/main"}


async def test_agent_overrides_reach_the_provider_they_name(tmp_path: Path) -> None:
    main, side = MockProvider(_brain, "main"), MockProvider(_brain, "side")
    config = _config(agents=2, agent_overrides=[{}, {"provider": "side", "model": "m/side"}])
    async with Engine(config, providers={"main": main, "side": side},
                      scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Light and colour", config))
    assert result.status == "ok", result.error
    assert [(r.purpose, r.model) for r in side.history] == [("agent", "m/side")]
    assert sorted(r.purpose for r in main.history) == ["agent", "decompose", "synthesis"]


async def test_a_failing_agent_is_reported_and_the_others_still_answer(tmp_path: Path) -> None:
    def handler(request: ChatRequest) -> Completion | str:
        if request.purpose == "agent" and "sunsets" in request.messages[-1]["content"]:
            raise ProviderError("the provider said no (HTTP 402)", status=402)
        return _brain(request)

    config = _config(agents=2)
    async with Engine(config, providers={"main": MockProvider(handler)},
                      scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Light and colour", config))
    assert result.status == "ok"
    assert [a.status for a in result.agents] == ["ok", "failed"]
    assert result.agents[1].error == "the provider said no (HTTP 402)"
    assert any("1 of 2 agents did not finish" in note for note in result.notes)


async def test_a_tool_call_from_the_mock_runs_the_real_tool(tmp_path: Path) -> None:
    def handler(request: ChatRequest) -> Completion | str:
        if request.purpose == "agent" and request.messages[-1]["role"] == "user":
            return Completion(content="", tool_calls=[
                ToolCall(id="c1", name="calculate", arguments='{"expression": "6*7"}')])
        if request.purpose == "agent":
            return f"the tool said {request.messages[-1]['content']}"
        return _brain(request)

    config = _config(agents=1, tools=["calculate"])
    async with Engine(config, providers={"main": MockProvider(handler)},
                      scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("What is six times seven?", config))
    assert result.status == "ok", result.error
    assert result.answer == "the tool said 42"


async def test_the_request_deadline_cuts_a_slow_provider(tmp_path: Path) -> None:
    async def slow(request: ChatRequest) -> str:
        await asyncio.sleep(30)
        return "too late"

    config = _config(agents=1, timeouts={"request": 0.2})
    mock = MockProvider(slow)
    async with Engine(config, providers={"main": mock}, scratch_root=tmp_path) as engine:
        result = await asyncio.wait_for(engine.run(HeavyRequest("q", config)), 5)
    assert result.status == "timeout"
    assert not mock.closed  # the caller owns what it handed in
