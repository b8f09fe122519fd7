"""Agents' prompts share one byte-identical prefix (system prompt, context, files, images) and
end with what is each agent's own, so providers' prompt caching applies; cached tokens are
reported in usage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import Engine, HeavyRequest
from heavy_engine.attachments import Attachments, Document, Image
from heavy_engine.cli import main
from heavy_engine.testing import FakeLLM, RecordedRequest, fake_config
from heavy_engine.testing._quirks import shared_prefix
from heavy_engine.text import footer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
CONTEXT = "Earlier messages in this thread, oldest first:\n[ana] We ship on Friday. " * 20
FILES = Attachments(documents=[Document("notes.txt", "text", "Revenue rose 12 percent.")],
                    images=[Image("chart.png", "image/png", PNG)])


def _first_calls(fake: FakeLLM) -> list[RecordedRequest]:
    """Each agent's first request (no assistant turn yet)."""
    return [c for c in fake.calls("agent")
            if c.body and not any(m["role"] == "assistant" for m in c.body["messages"])]


def _own_text(call: RecordedRequest) -> str:
    assert call.body is not None
    content = call.body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


async def test_agents_share_one_prefix_and_end_with_their_sub_question(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = fake_config(
        fake_llm.base_url, agents=3, tools=["calculate"], system_prompt="Be brief.",
        agent_roles=["sceptic", "contrarian"], vision_models=["fake/*"],
        agent_overrides=[{}, {}, {"system_prompt": "Answer in French."}])
    async with Engine(config, scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Should we ship on Friday?", config,
                                               context=CONTEXT, attachments=FILES))
    assert result.status == "ok", result.error
    firsts = _first_calls(fake_llm)
    assert len(firsts) == 3
    # On the wire: the messages serialise to one common prefix...
    dumps = [json.dumps(c.body["messages"]) for c in firsts if c.body]
    prefix = dumps[0][:min(shared_prefix(dumps[0], d) for d in dumps[1:])]
    for shared in ("Be brief.", "We ship on Friday.", "Revenue rose 12 percent.",
                   "data:image/png;base64,"):
        assert shared in prefix, shared
    # ... and all that differs is the agent's own text, the last part of its last message.
    for dump, call in zip(dumps, firsts, strict=True):
        tail = dump[len(prefix):]
        assert tail.endswith('"}]}]')  # the end of the text part, content, message, messages
        assert json.dumps(_own_text(call))[1:-1].endswith(tail[:-len('"}]}]')])
    own = {_own_text(c) for c in firsts}
    by_question = {q: next(t for t in own if t.endswith(f"Your sub-question: {q}"))
                   for q in result.questions}
    assert "Your role: sceptic" in by_question[result.questions[0]]
    assert "Your role: contrarian" in by_question[result.questions[1]]
    assert by_question[result.questions[2]].startswith("Answer in French.")
    assert not any("Your role" in c.body["messages"][0]["content"] for c in firsts if c.body)
    # Everything else in the body is the same for every agent (tools, temperature, model).
    rest = [{k: v for k, v in c.body.items() if k != "messages"} for c in firsts if c.body]
    assert all(r == rest[0] for r in rest)


@pytest.fixture
async def caching() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(cache_prompts=True) as fake:
        yield fake


async def test_cached_tokens_are_reported_in_usage(caching: FakeLLM, tmp_path: Path) -> None:
    config = fake_config(caching.base_url, agents=3, tools=[])
    async with Engine(config, scratch_root=tmp_path) as engine:
        result = await engine.run(HeavyRequest("Should we ship on Friday?", config,
                                               context=CONTEXT))
    assert result.status == "ok", result.error
    # Agents 2 and 3 reuse agent 1's prefix: the context, about 1,200 characters.
    agents_cached = sum(a.usage.cached_tokens for a in result.agents)
    assert agents_cached >= 2 * len(CONTEXT) // 4
    assert result.usage.cached_tokens >= agents_cached  # and the orchestrator's, if any
    assert result.usage.as_dict()["cached_tokens"] == result.usage.cached_tokens
    assert f"({result.usage.cached_tokens:,} cached)" in footer(result)


async def test_heavy_ask_json_reports_cached_tokens(
    caching: FakeLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEAVY_LLM_BASE_URL", caching.base_url)
    monkeypatch.setenv("HEAVY_MODEL", "fake/model")
    question = "Which of the three databases we talked about suits a small team best? " * 8
    assert await asyncio.to_thread(main, ["ask", "--json", "--agents", "3", question]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["usage"]["cached_tokens"] > 0
    assert out["usage"]["cached_tokens"] <= out["usage"]["prompt_tokens"]
