"""The fake OpenAI-compatible server: brain, scripting, streaming wire format, recording."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from heavy_engine import Prompts
from heavy_engine.testing import (
    FakeLLM,
    error_reply,
    fake_config,
    garbage_reply,
    hang_reply,
    slow_reply,
    text_reply,
    tool_call_reply,
)

CALC_TOOL = {"type": "function", "function": {"name": "calculate", "parameters": {}}}
OTHER_TOOL = {"type": "function", "function": {"name": "web_search", "parameters": {}}}


async def post(fake: FakeLLM, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{fake.base_url}/chat/completions", json=body)


async def sse(fake: FakeLLM, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{fake.base_url}/chat/completions", json={**body, "stream": True})
        lines = [ln[6:] for ln in r.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(ln) for ln in lines[:-1]]


def message(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    msg: dict[str, Any] = r.json()["choices"][0]["message"]
    return msg


DECOMPOSE = {"model": "m", "response_format": {"type": "json_object"}, "messages": [
    {"role": "system", "content": Prompts().decompose_for(5)},
    {"role": "user", "content": "Should we use Rust?"}]}


async def test_decompose_returns_exactly_n_distinct_questions(fake_llm: FakeLLM) -> None:
    qs = json.loads(message(await post(fake_llm, DECOMPOSE))["content"])["questions"]
    assert len(qs) == len(set(qs)) == 5
    # Without response_format the system prompt alone identifies decomposition.
    body = {**DECOMPOSE, "response_format": None}
    assert fake_llm.calls()[-1].purpose == "decompose"
    await post(fake_llm, body)
    assert fake_llm.calls()[-1].purpose == "decompose"


async def test_agent_calls_calculate_then_answers_about_its_sub_question(fake_llm: FakeLLM) -> None:
    msgs = [{"role": "system", "content": Prompts().agent},
            {"role": "user", "content": "What does it cost?"}]
    msg = message(await post(fake_llm, {"model": "m", "messages": msgs,
                                        "tools": [OTHER_TOOL, CALC_TOOL]}))
    (call,) = msg["tool_calls"]
    assert call["function"]["name"] == "calculate"
    assert "expression" in json.loads(call["function"]["arguments"])
    msgs += [msg, {"role": "tool", "tool_call_id": call["id"], "content": "46"}]
    answer = message(await post(fake_llm, {"model": "m", "messages": msgs, "tools": [CALC_TOOL]}))
    assert "What does it cost?" in answer["content"] and "tool_calls" not in answer


async def test_agent_without_calculate_calls_first_tool_with_empty_args(fake_llm: FakeLLM) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "tools": [OTHER_TOOL]}
    (call,) = message(await post(fake_llm, body))["tool_calls"]
    assert call["function"] == {"name": "web_search", "arguments": "{}"}


async def test_synthesis_is_markdown_with_usage_and_cost(fake_llm: FakeLLM) -> None:
    body = {"model": "m", "messages": [
        {"role": "system", "content": Prompts().synthesis},
        {"role": "user", "content": "Question: Why?\n\n# Findings\n\n## Agent 1: Costs\n\nx"}]}
    r = await post(fake_llm, body)
    assert message(r)["content"].startswith("## Answer") and "- Costs" in message(r)["content"]
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["cost"] > 0
    assert fake_llm.calls("synthesis")


async def test_stream_text_in_pieces_with_usage_last(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(text_reply("one two three four five six seven eight"))
    chunks = await sse(fake_llm, {"model": "m", "messages": [{"role": "user", "content": "q"}]})
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([p for p in pieces if p]) >= 3
    assert "".join(p or "" for p in pieces) == "one two three four five six seven eight"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_tool_calls_split_by_index(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(tool_call_reply(("calculate", {"expression": "1+1"}), ("web_search", {"q": "x"})))
    chunks = await sse(fake_llm, {"model": "m", "messages": [{"role": "user", "content": "q"}]})
    parts = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    by_index: dict[int, list[dict[str, Any]]] = {}
    for p in parts:
        by_index.setdefault(p["index"], []).append(p)
    assert sorted(by_index) == [0, 1]
    for frags in by_index.values():
        assert "id" in frags[0] and frags[0]["function"]["name"]
        assert len(frags) >= 3  # head plus at least two argument fragments
        assert json.loads("".join(f["function"]["arguments"] for f in frags))


async def test_scripted_replies_are_fifo_then_brain(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("first", error_reply(429, headers={"Retry-After": "1"}), garbage_reply())
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    assert message(await post(fake_llm, body))["content"] == "first"
    r = await post(fake_llm, body)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    r = await post(fake_llm, body)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert "fake agent answer" in message(await post(fake_llm, body))["content"]
    assert len(fake_llm.calls()) == 4 and fake_llm.pending == 0


async def test_targeted_replies_wait_for_their_purpose(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("synth!", when="synthesis")
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    assert message(await post(fake_llm, body))["content"] != "synth!"
    synth = {"model": "m", "messages": [{"role": "system", "content": Prompts().synthesis},
                                        {"role": "user", "content": "Question: q\n\n# Findings"}]}
    assert message(await post(fake_llm, synth))["content"] == "synth!"


async def test_hang_records_the_cancellation(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(hang_reply())
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    with pytest.raises(httpx.ReadTimeout):
        async with httpx.AsyncClient(timeout=0.2) as client:
            await client.post(f"{fake_llm.base_url}/chat/completions", json=body)
    await fake_llm.wait_for(lambda f: f.requests[0].cancelled)
    rec = fake_llm.requests[0]
    assert rec.cancelled and rec.finished is not None and rec.finished >= rec.started


async def test_models_reset_and_fake_config(fake_llm: FakeLLM) -> None:
    async with httpx.AsyncClient() as client:
        ids = [m["id"] for m in (await client.get(f"{fake_llm.base_url}/models")).json()["data"]]
    assert "fake/model" in ids
    fake_llm.enqueue("x")
    await post(fake_llm, {"model": "m", "messages": [{"role": "user", "content": "q"}]})
    fake_llm.reset()
    assert fake_llm.requests == [] and fake_llm.pending == 0
    cfg = fake_config(fake_llm.base_url, agents=2, timeouts={"request": 5})
    assert cfg.providers[cfg.provider].base_url == fake_llm.base_url
    assert cfg.agents == 2 and cfg.timeouts.request == 5


async def test_agent_with_only_the_finish_tool_finishes_with_a_summary(fake_llm: FakeLLM) -> None:
    done = {"type": "function", "function": {"name": "mark_task_complete", "parameters": {}}}
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "tools": [done]}
    (call,) = message(await post(fake_llm, body))["tool_calls"]
    assert json.loads(call["function"]["arguments"])["summary"]


async def test_slow_reply_and_latency_add_up(fake_llm: FakeLLM) -> None:
    fake_llm.latency = 0.05
    fake_llm.enqueue(slow_reply(0.1))
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    assert "fake agent answer" in message(await post(fake_llm, body))["content"]
    rec = fake_llm.calls()[0]
    assert rec.finished is not None and rec.finished - rec.started >= 0.15
    assert rec.status == 200 and not rec.cancelled and not rec.stream


async def test_optional_key_and_known_models_checks() -> None:
    async with FakeLLM(api_key="sk-test", known_models_only=True) as fake:
        body = {"model": "fake/model", "messages": [{"role": "user", "content": "q"}]}
        assert (await post(fake, body)).status_code == 401
        async with httpx.AsyncClient(headers={"Authorization": "Bearer sk-test"}) as client:
            url = f"{fake.base_url}/chat/completions"
            assert (await client.post(url, json=body)).status_code == 200
            assert (await client.post(url, json={**body, "model": "nope"})).status_code == 404
