"""`web_search` through the real engine: the fake LLM calls it, a back-end's fake answers, and
the results the agent used become the run's sources, exactly as DuckDuckGo's did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from heavy_engine import Engine, HeavyConfig, HeavyRequest, RunResult, ToolFinished
from heavy_engine.cli import main
from heavy_engine.settings import layer
from heavy_engine.testing import FakeLLM, fake_config, tool_call_reply

from .conftest import entry
from .fakes import SearchFakes


def config(fake: FakeLLM, fakes: SearchFakes, **search: Any) -> HeavyConfig:
    return fake_config(fake.base_url, agents=1, tools=["web_search", "mark_task_complete"],
                       timeouts={"request": 30, "tool": 10}, search=search)


async def ask(cfg: HeavyConfig, question: str) -> tuple[RunResult, list[Any]]:
    async with Engine(cfg) as engine:
        run = engine.start(HeavyRequest(question, cfg))
        result = await run
    return result, run.events


def tool_texts(fake: FakeLLM) -> list[str]:
    body = fake.calls("agent")[-1].body
    assert body is not None
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]


async def test_the_answering_backends_results_become_sources(
    fake_llm: FakeLLM, fakes: SearchFakes, keys: dict[str, str]
) -> None:
    cfg = config(fake_llm, fakes, **entry(fakes, "brave"), fallback=[entry(fakes, "searxng")])
    used = "https://searxng.example/kelp-forests/1"
    fake_llm.enqueue(
        tool_call_reply(("web_search", {"query": "kelp forests [brave:429]"})),
        tool_call_reply(("mark_task_complete", {"summary": f"Kelp grows fast ({used})."})),
        when="agent")
    result, events = await ask(cfg, "How fast does kelp grow?")

    assert result.status == "ok", result.error
    [searched] = tool_texts(fake_llm)  # mark_task_complete ends the loop: no reply to it
    assert searched.startswith("Results for 'kelp forests [brave:429]' from searxng:\n"
                               "(brave failed: rate limited, HTTP 429; resting 7 s)\n\n"
                               "1. searxng result 1\n   " + used)
    # a listed result the agent used is a source, with the title the back-end gave it
    assert [s.as_dict() for s in result.sources] == [{"url": used, "title": "searxng result 1"}]
    assert result.answer.endswith(f"**Sources**\n1. [searxng result 1]({used})")
    # progress shows the search like any tool call (mark_task_complete ends the loop unshown)
    assert [(e.tool, e.ok) for e in events if isinstance(e, ToolFinished)] == [("web_search", True)]


async def test_a_channels_pick_reaches_the_tool(
    fake_llm: FakeLLM, fakes: SearchFakes, keys: dict[str, str]
) -> None:
    base = config(fake_llm, fakes, **entry(fakes, "searxng"),
                  fallback=[entry(fakes, "tavily"), entry(fakes, "duckduckgo")])
    cfg = layer(base, {}, {"search": "tavily"}, {}).config  # what a job in that channel runs
    used = "https://tavily.example/estuaries/2"
    fake_llm.enqueue(
        tool_call_reply(("web_search", {"query": "estuaries"})),
        tool_call_reply(("mark_task_complete", {"summary": f"See {used}."})),
        when="agent")
    result, _ = await ask(cfg, "What is an estuary?")

    assert result.status == "ok", result.error
    assert tool_texts(fake_llm)[0].startswith("Results for 'estuaries' from tavily:")
    assert [s.url for s in result.sources] == [used]
    assert fakes.requests("searxng", "estuaries") == []


def test_heavy_ask_searches_with_the_configured_backend(
    fakes: SearchFakes, capsys: pytest.CaptureFixture[str]
) -> None:
    # No key: `heavy ask` runs the simulated model, which searches its topic once; the
    # working directory is the test's own (tests/conftest.py), so ./config.yaml is this one.
    Path("config.yaml").write_text(yaml.safe_dump({
        "tools": ["web_search"], "search": entry(fakes, "searxng")}))
    assert main(["ask", "--agents", "1", "--json", "How do tidal bores form?"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    [seen] = [s for s in fakes.requests("searxng") if "tidal bores" in s.query["q"].lower()]
    assert seen.query["format"] == "json"
