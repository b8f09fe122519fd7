"""Tools through the real engine: a fake LLM asks for hostile calls, nothing forbidden comes back.

The model is `heavy_engine.testing.FakeLLM` (a local OpenAI-compatible server) driving the real
`Engine`, agent loop and `openai` provider; the tools are the built-ins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import Engine, HeavyRequest, RunResult, ToolFinished
from heavy_engine.cli import main
from heavy_engine.testing import FakeLLM, fake_config, tool_call_reply
from heavy_engine.tools import FetchUrl, ToolRegistry, WebSearch, builtin_tools

from .conftest import FakeResolver, LocalServer
from .test_search import _ddg

FORBIDDEN = ("TOPSECRET", "root:x:0:0", "uid=", "ami-id", "SCRIPT-CONTENT")


def registry(server: LocalServer) -> ToolRegistry:
    """The built-ins, with DNS and the search endpoint pointed at test doubles."""
    reg = ToolRegistry()
    for tool in builtin_tools():
        if tool.name not in ("fetch_url", "web_search"):
            reg.register(tool)
    resolver = FakeResolver({"internal.example": ["10.0.0.7"], "public.example": ["127.0.0.1"]})
    reg.register(FetchUrl(resolver=resolver))
    reg.register(WebSearch())  # pointed at the server by the config's `search:` (see `ask`)
    return reg


def tool_results(fake: FakeLLM) -> list[str]:
    """Every tool result the model was shown, in order (the last request holds them all)."""
    body = fake.calls("agent")[-1].body
    assert body is not None
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]


async def ask(
    fake: FakeLLM, server: LocalServer, root: Path, **overrides: Any
) -> tuple[RunResult, list[Any]]:
    config = fake_config(fake.base_url, agents=1, timeouts={"request": 20, "tool": 5},
                         search={"base_url": server.url("/html/")}, **overrides)
    async with Engine(config, tools=registry(server), scratch_root=root) as engine:
        run = engine.start(HeavyRequest("Please look around the server.", config))
        result = await run
    return result, run.events


async def test_hostile_calls_are_refused_and_nothing_leaks(
    fake_llm: FakeLLM, server: LocalServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-file")
    root = tmp_path / "scratch-root"
    root.mkdir()
    fake_llm.enqueue(tool_call_reply(
        ("calculate", {"expression": "9**9**9"}),
        ("calculate", {"expression": "10**10**10"}),
        ("calculate", {"expression": "__import__('os').system('id')"}),
        ("calculate", {"expression": "().__class__"}),
        ("calculate", {"expression": "1+" * 500_000 + "1"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "../../etc/passwd"}),
        ("read_file", {"path": str(secret)}),
        ("fetch_url", {"url": server.url("/secret")}),  # a local service holding a secret
        ("fetch_url", {"url": "http://[::1]/"}),
        ("fetch_url", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("fetch_url", {"url": "http://10.0.0.1"}),
        ("fetch_url", {"url": "file:///etc/passwd"}),
        ("fetch_url", {"url": "gopher://127.0.0.1:70/"}),
        ("fetch_url", {"url": "http://internal.example/"}),
    ), when="agent")
    result, events = await ask(fake_llm, server, root)

    assert result.status == "ok", result.error
    results = tool_results(fake_llm)
    assert len(results) == 15
    assert all(r.startswith("refused: ") for r in results), results
    assert not any(f.ok for f in events if isinstance(f, ToolFinished))
    for text in [*results, result.answer]:
        assert not any(bad in text for bad in FORBIDDEN), text
    assert "refused: internal.example resolves to 10.0.0.7" in result.answer  # the brain quotes it
    assert server.requests == []  # the local service was never contacted
    assert list(root.iterdir()) == []  # the scratch directory is gone


async def test_builtin_tools_work_end_to_end(
    fake_llm: FakeLLM, server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/html/"] = _ddg
    fake_llm.enqueue(
        tool_call_reply(
            ("calculate", {"expression": "2 ** 10 + sqrt(16)"}),
            ("write_file", {"path": "notes/a.md", "content": "remember 1028"}),
            ("fetch_url", {"url": server.url("/page", "public.example")}),
            ("web_search", {"query": "asyncio"}),
        ),
        tool_call_reply(("read_file", {"path": "notes/a.md"}), ("list_files", {})),
        tool_call_reply(("mark_task_complete", {"summary": "All tools answered."})),
        when="agent",
    )
    result, _ = await ask(fake_llm, server, tmp_path,
                          tool_settings={"fetch_allow_hosts": ["127.0.0.1"]})
    assert result.status == "ok", result.error
    # The fetched page is a source; the search results were listed but never used: not sources.
    page_url = server.url("/page", "public.example")
    assert [s.as_dict() for s in result.sources] == [{"url": page_url, "title": "Hello page"}]
    assert result.answer == f"All tools answered.\n\n**Sources**\n1. [Hello page]({page_url})"
    calc, wrote, page, search, read, listing = tool_results(fake_llm)
    assert calc == "1028"
    assert wrote == "wrote 13 bytes to notes/a.md"
    assert "Title: Hello page" in page and "Welcome" in page and "SCRIPT-CONTENT" not in page
    assert "1. asyncio — Asynchronous I/O" in search
    assert read == "remember 1028"
    assert listing == "notes/a.md (13 bytes)"


def test_heavy_ask_runs_calculate_with_the_simulated_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No key is set (the autouse fixture scrubs them), so `heavy ask` uses the simulated model,
    # which calls `calculate` with the arithmetic it finds in the question.
    assert main(["ask", "--agents", "1", "--json", "What is 12*17+sqrt(144)?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok"
    assert "The calculate tool returned `216`." in out["answer"]
