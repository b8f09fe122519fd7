"""Servers that refuse `tools` or `response_format` with a 400: the call goes once more without
the field, the model is not sent it again, and the run still answers (one warning)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from heavy_engine import ChatRequest, Engine, HeavyRequest
from heavy_engine.providers import OpenAIProvider
from heavy_engine.providers._openai_wire import refused_field
from heavy_engine.testing import FakeLLM, error_reply, fake_config, fake_provider_config
from heavy_engine.testing._quirks import REFUSALS

TOOLS = [{"type": "function", "function": {"name": "calculate", "parameters": {"type": "object"}}}]
BOTH = frozenset({"tools", "response_format"})


def _body(name: str) -> bytes:
    return json.dumps(REFUSALS[name][1]).replace("{model}", "qwen3:0.6b").encode()


@pytest.mark.parametrize(("raw", "sent", "field"), [
    (_body("vllm-tools"), BOTH, "tools"),  # vLLM without --enable-auto-tool-choice
    (_body("ollama-tools"), BOTH, "tools"),  # an Ollama model without tool support
    (_body("lmstudio-json"), BOTH, "response_format"),  # LM Studio: json_schema only
    (_body("openai-json"), BOTH, "response_format"),  # OpenAI: a model without JSON mode
    (_body("vllm-tools"), frozenset({"response_format"}), None),  # no tools were sent
    (b'{"error": {"message": "messages is required", "param": "messages"}}', BOTH, None),
    # a bad request for another reason
    (b'{"object": "error", "message": "This model\'s maximum context length is 4096 tokens."}',
     BOTH, None),  # too long: dropping a field would not help
    (b"<html>Bad Request</html>", BOTH, None),  # not JSON, says nothing about a field
    (b'{"error": "tools are not supported"}', frozenset(), None),  # nothing optional was sent
])
def test_refused_field(raw: bytes, sent: frozenset[str], field: str | None) -> None:
    assert refused_field(raw, sent) == field


@pytest.fixture
async def refusing() -> AsyncIterator[FakeLLM]:
    """A fake that refuses tools like Ollama and JSON mode like LM Studio."""
    async with FakeLLM(refuse=["ollama-tools", "lmstudio-json"]) as fake:
        yield fake


@pytest.fixture
async def provider(refusing: FakeLLM) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider("local", fake_provider_config(refusing.base_url), {})
    yield p
    await p.aclose()


def agent_call(model: str = "fake/model") -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "What is 6 * 7?"}],
                       tools=TOOLS, timeout=10)


def _sent(fake: FakeLLM) -> list[tuple[bool, int | None]]:
    """Per request: whether it carried tools, and the status it got."""
    return [("tools" in (r.body or {}), r.status) for r in fake.calls()]


async def test_a_refused_tools_field_is_dropped_once_and_remembered(
    refusing: FakeLLM, provider: OpenAIProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "heavy.providers.openai"):
        first = await provider.complete(agent_call())
        second = await provider.complete(agent_call())
    assert first.content and second.content  # both answered, without tools
    assert _sent(refusing) == [(True, 400), (False, 200), (False, 200)]
    [warning] = caplog.records
    assert warning.getMessage() == (
        "LLM provider 'local': the server refused tools (tool calling) for model 'fake/model' "
        "(400: fake/model does not support tools); its agents answer without tools from now on")


async def test_another_model_on_the_same_server_gets_its_own_try(
    refusing: FakeLLM, provider: OpenAIProvider
) -> None:
    await provider.complete(agent_call("fake/model"))
    await provider.complete(agent_call("fake/orchestrator"))
    assert _sent(refusing) == [(True, 400), (False, 200), (True, 400), (False, 200)]


async def test_a_refused_json_mode_is_dropped_in_a_stream_too(
    refusing: FakeLLM, provider: OpenAIProvider
) -> None:
    request = ChatRequest(model="fake/model", json_mode=True, timeout=10, messages=[
        {"role": "system", "content": "Write exactly 2 sub-questions as JSON."},
        {"role": "user", "content": "Which database?"}])
    pieces = [p async for p in provider.stream(request)]
    assert pieces and "questions" in "".join(p for p in pieces if isinstance(p, str))
    assert [("response_format" in (r.body or {}), r.status) for r in refusing.calls()] == [
        (True, 400), (False, 200)]


async def test_any_other_400_is_still_final(fake_llm: FakeLLM) -> None:
    provider = OpenAIProvider("local", fake_provider_config(fake_llm.base_url), {})
    fake_llm.enqueue(error_reply(400, "messages: field required"))
    with pytest.raises(Exception, match=r"the request was rejected \(400\): messages"):
        await provider.complete(agent_call())
    await provider.aclose()
    assert len(fake_llm.calls()) == 1


async def test_a_whole_run_answers_against_a_server_that_refuses_both(
    refusing: FakeLLM, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    config = fake_config(refusing.base_url, agents=3, tools=["calculate"])
    with caplog.at_level(logging.WARNING, "heavy.providers.openai"):
        async with Engine(config, scratch_root=tmp_path) as engine:
            result = await engine.run(HeavyRequest("Which database?", config))
    assert result.status == "ok", result.error
    assert [a.status for a in result.agents] == ["ok"] * 3
    # the decomposition answered in JSON without JSON mode: not the fallback angles
    assert len(result.questions) == 3 and not any("Answer this directly" in q
                                                  for q in result.questions)
    # one warning per refused field, however many agents ran into it at once
    assert sorted(r.getMessage().split(" for model")[0] for r in caplog.records) == [
        "LLM provider 'fake': the server refused response_format json_object (JSON mode)",
        "LLM provider 'fake': the server refused tools (tool calling)"]
    # refused at most once per call: the decomposition, and the agents' first calls in flight
    assert 2 <= sum(r.status == 400 for r in refusing.calls()) <= 1 + 3
    assert all(a.iterations == 1 for a in result.agents)  # answered without tools


def test_the_fake_names_unknown_refusals() -> None:
    with pytest.raises(ValueError, match=r"refuse: unknown \['vllm'\]; known: \["):
        FakeLLM(refuse=["vllm"])


async def test_the_standalone_fake_refuses_on_request() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "heavy_engine.testing.fake_llm", "--port", "0", "--latency", "0",
        "--refuse", "vllm-tools", stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()  # a loaded machine
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert "refusing vllm-tools" in line
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Hi?"}]}
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.post(f"{base}/chat/completions", json={**body, "tools": TOOLS})
            answered = await client.post(f"{base}/chat/completions", json=body)
        assert refused.status_code == 400 and refused.json() == REFUSALS["vllm-tools"][1]
        assert answered.status_code == 200
    finally:
        proc.terminate()
        await proc.wait()
