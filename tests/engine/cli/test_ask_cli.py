"""`heavy ask` end to end: the real CLI (in a worker thread) against the fake LLM."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from heavy_engine.testing import FakeLLM, error_reply, text_reply

from .helpers import heavy


async def test_json_output_against_any_openai_compatible_server(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await heavy("ask", "--json", "Which", "database?") == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"answer", "questions", "agents", "llm_calls", "elapsed_s", "usage"}
    assert out["llm_calls"] == len(llm_env.calls()) and len(out["questions"]) == 4
    assert {a["status"] for a in out["agents"]} == {"ok"}
    assert set(out["agents"][0]) == {"question", "model", "status", "iterations", "elapsed_s",
                                     "error", "answer"}
    assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["cost_usd"] > 0
    assert all(c.body["model"] == "fake/model" for c in llm_env.calls())


async def test_agents_flag(llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    assert await heavy("ask", "--json", "--agents", "2", "q") == 0
    assert len(json.loads(capsys.readouterr().out)["agents"]) == 2


async def test_live_view_prints_the_answer(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await heavy("ask", "Which database?") == 0
    captured = capsys.readouterr()
    assert "Key facts" in captured.out or "database" in captured.out.lower()
    assert "4/4 agents" in captured.err and "LLM calls" in captured.err


async def test_failed_run_exits_1(llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm_env.enqueue(error_reply(400, "nope"), error_reply(400, "nope"), when="agent")
    assert await heavy("ask", "--json", "--agents", "2", "q") == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("All 2 agents failed")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "--agents", "40", "q"], "agents: Input should be less than or equal to 16"),
        (["ask", "   "], "The question is empty"),
        (["ask", "--config", "/nonexistent.yaml", "q"], "no such config file"),
        (["ask", "--scope", "slack", "q"], "--scope: expected PLATFORM:WORKSPACE"),
    ],
)
async def test_bad_usage_exits_2(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(await heavy(*argv))
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert llm_env.calls() == []


async def test_invalid_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("timeouts:\n  tool: 0\n")
    with pytest.raises(SystemExit) as exc:
        await heavy("ask", "q")
    assert exc.value.code == 2
    assert "timeouts.tool: Input should be greater than 0" in capsys.readouterr().err


async def test_no_key_falls_back_to_simulated_with_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await heavy("ask", "--json", "q") == 0
    captured = capsys.readouterr()
    assert "OPENROUTER_API_KEY is not set" in captured.err
    out = json.loads(captured.out)
    assert out["simulated"] and "[simulated]" in out["answer"] and out["llm_calls"] == 10


async def test_scope_uses_stored_channel_settings(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await heavy("config", "set", "--platform", "slack", "--workspace", "T1",
                       "--channel", "C1", "agents=3", "system_prompt=Be terse.") == 0
    capsys.readouterr()
    assert await heavy("ask", "--json", "--scope", "slack:T1:C1", "q") == 0
    assert len(json.loads(capsys.readouterr().out)["agents"]) == 3
    agent_call = llm_env.calls("agent")[0].body
    assert "Be terse." in agent_call["messages"][0]["content"]
    assert await asyncio.to_thread(Path("data/heavy.db").exists)  # SQLite migrated itself


async def test_every_command_logs_through_the_redacting_formatter(tmp_path: Path) -> None:
    key = "gq-4f9c2a7e1b3d5f60a1"
    (tmp_path / "config.yaml").write_text(
        "providers:\n  groq:\n    base_url: https://api.groq.example/v1\n"
        "    api_key_env: GROQ_KEY\nprovider: groq\n")
    script = (
        "import logging, os, sys\n"
        "from heavy_engine.cli import main\n"
        "code = main(['-v', 'config', 'show', '--platform', 'slack', '--workspace', 'T1'])\n"
        "logging.getLogger('heavy.test').warning('leak? %s', os.environ['GROQ_KEY'])\n"
        "sys.exit(code)\n"
    )
    env = {"PATH": os.environ["PATH"], "GROQ_KEY": key,
           "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)  # a child start-up
    assert proc.returncode == 0, err.decode()
    assert b"leak? [REDACTED]" in err  # a provider key under any variable name is masked
    assert key.encode() not in err + out


async def test_rounds_and_agents_auto_flags(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_env.enqueue(json.dumps({"questions": ["What is A?", "What is B?", "What is C?"]}), when="decompose")
    assert await heavy("ask", "--json", "--agents", "auto", "--rounds", "2", "q") == 0
    out = json.loads(capsys.readouterr().out)
    # 3 agents chosen by the decomposition; compare notes adds one call each (no tools here)
    assert len(out["agents"]) == 3 and out["llm_calls"] == len(llm_env.calls())
    assert len(llm_env.calls("agent")) == 3 * 2 + 3
    assert out["sources"] == []


async def test_json_lists_sources(llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm_env.enqueue(text_reply("It is https://made.up/a."), when="agent")
    assert await heavy("ask", "--json", "--agents", "1", "q") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sources"] == [] and out["answer"] == "It is https://made.up/a (unverified)."
