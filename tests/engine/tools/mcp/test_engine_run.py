"""MCP tools in a real run: the fake LLM (a local OpenAI-compatible server) calls the third-party
`mcp-server-time` through the engine and the agent loop, and the answer uses what it returned."""

from __future__ import annotations

import json
from typing import Any

from heavy_engine import Engine, HeavyRequest, ToolCalled, ToolFinished
from heavy_engine.testing import FakeLLM, fake_config, text_reply, tool_call_reply

from .conftest import stdio, time_server


def agent_request(fake: FakeLLM, n: int = -1) -> dict[str, Any]:
    body = fake.calls("agent")[n].body
    assert body is not None
    return body


async def test_the_model_calls_a_third_party_server_and_the_answer_uses_it(
    fake_llm: FakeLLM,
) -> None:
    config = fake_config(
        fake_llm.base_url, agents=1, timeouts={"request": 120, "tool": 30},
        mcp_servers={"time": time_server(), "tickets": stdio("exit")},
        tools=["calculate", "mcp__time", "mcp__tickets"])
    fake_llm.enqueue(tool_call_reply(("mcp__time__convert_time", {
        "source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})),
        when="agent")
    async with Engine(config) as engine:
        run = engine.start(HeavyRequest("What time is noon UTC in Tokyo?", config))
        result = await run
        assert [s.state for s in engine.mcp_status()] == ["up", "down"]
    assert result.status == "ok", result.error
    # the tool's result reached the model, which quoted it in the answer
    shown = [m["content"] for m in agent_request(fake_llm)["messages"] if m["role"] == "tool"]
    assert len(shown) == 1 and "T21:00:00+09:00" in shown[0]
    assert '"timezone": "Asia/Tokyo"' in result.answer

    first = agent_request(fake_llm, 0)
    offered = [t["function"]["name"] for t in first["tools"]]
    assert offered == ["calculate", "mcp__time__get_current_time", "mcp__time__convert_time"]
    convert = first["tools"][2]["function"]
    assert convert["description"].startswith("Convert time between timezones")
    assert set(convert["parameters"]["required"]) == {
        "source_timezone", "time", "target_timezone"}
    # the agent was told in one line that the tickets server is down; the run went on
    system = first["messages"][0]["content"]
    assert system.count("MCP server 'tickets'") == 1
    assert "The tools of MCP server 'tickets' are unavailable for this run" in system
    # the call went through the loop's events like any tool
    called = [e for e in run.events if isinstance(e, ToolCalled)]
    finished = [e for e in run.events if isinstance(e, ToolFinished)]
    assert [e.tool for e in called] == ["mcp__time__convert_time"]
    assert '"target_timezone": "Asia/Tokyo"' in called[0].arguments
    assert finished[0].ok and finished[0].summary.startswith('{ "source": { "timezone": "UTC"')


async def test_images_reach_vision_models_only_and_links_become_sources(
    fake_llm: FakeLLM,
) -> None:
    bodies = []
    for model in ("openai/gpt-4o", "fake/model"):  # the first is a vision model by default
        config = fake_config(fake_llm.base_url, agents=1, model=model,
                             timeouts={"request": 120, "tool": 30},
                             mcp_servers={"t": stdio()},
                             tools=["mcp__t__picture", "mcp__t__link"])
        fake_llm.enqueue(tool_call_reply(("mcp__t__picture", {}), (
            "mcp__t__link", {"url": "https://docs.example/design"})), when="agent")
        fake_llm.enqueue(text_reply("See https://docs.example/design for the design."),
                         when="agent")
        async with Engine(config) as engine:
            result = await engine.run(HeavyRequest("Show me the design.", config))
        assert result.status == "ok", result.error
        bodies.append(agent_request(fake_llm))
        # the cited link the tool returned is a source, like a used search result
        assert [s.url for s in result.sources] == ["https://docs.example/design"]
    vision, text_only = (b["messages"] for b in bodies)
    tool_texts = [m["content"] for m in text_only if m["role"] == "tool"]
    assert tool_texts[0] == "a picture:\n[image 1: image/png, 67 bytes]"
    assert not any(isinstance(m["content"], list) for m in text_only)  # no image parts at all
    shown = [m for m in vision if m["role"] == "user" and isinstance(m["content"], list)]
    assert len(shown) == 1
    parts = shown[0]["content"]
    assert parts[0] == {"type": "text", "text": "The images the tools returned, in order:"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert json.dumps(vision).count("data:image/png") == 1  # once, not per turn
