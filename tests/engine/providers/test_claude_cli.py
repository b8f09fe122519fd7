"""The `claude_cli` provider against a fake `claude` executable (a script in tmp_path)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import (
    ChatRequest,
    Completion,
    Engine,
    HeavyRequest,
    ProviderConfig,
    ProviderError,
)
from heavy_engine.providers import ClaudeCLIProvider, ProviderPool, cli_model, render_prompt
from heavy_engine.testing import fake_config

# The fake CLI: records argv and stdin, then behaves per $FAKE_CLAUDE_MODE.
SCRIPT = """#!{python}
import json, os, subprocess, sys, time
out = os.environ["FAKE_CLAUDE_DIR"]
prompt = sys.stdin.read()
with open(os.path.join(out, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "stdin": prompt, "cwd": os.getcwd(),
                        "files": os.listdir("."), "env": dict(os.environ)}}) + "\\n")
mode = os.environ.get("FAKE_CLAUDE_MODE", "ok")
def emit(event):
    print(json.dumps(event), flush=True)
emit({{"type": "system", "subtype": "init", "model": "claude-fake-1", "session_id": "s"}})
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(os.path.join(out, "child.pid"), "w") as f:
        f.write(str(child.pid))
    time.sleep(60)
if mode == "long-line":
    print("x" * 5000, flush=True)
if mode == "exit":
    print("Error: not logged in; run claude login", file=sys.stderr)
    sys.exit(1)
if mode == "partial":
    for piece in ["Hello ", "from ", "partial ", "deltas."]:
        emit({{"type": "stream_event", "event": {{"type": "content_block_delta", "index": 0,
              "delta": {{"type": "text_delta", "text": piece}}}}}})
print("warning: not json", flush=True)
emit({{"type": "assistant", "message": {{"role": "assistant",
      "content": [{{"type": "text", "text": "Hello from partial deltas." if mode == "partial"
                   else "A whole message."}}]}}}})
if mode == "error":
    emit({{"type": "result", "subtype": "error_during_execution", "is_error": True,
          "result": "credit balance is too low"}})
    sys.exit(1)
emit({{"type": "result", "subtype": "success", "is_error": False,
      "result": "Hello from partial deltas." if mode == "partial" else "A whole message.",
      "total_cost_usd": 0.0123,
      "usage": {{"input_tokens": 10, "cache_read_input_tokens": 5,
                "cache_creation_input_tokens": 2, "output_tokens": 7}}}})
"""


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `claude` on PATH; returns the directory where it records its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "claude"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CLAUDE_DIR", str(tmp_path))
    return tmp_path


def calls(record_dir: Path) -> list[dict[str, Any]]:
    path = record_dir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def provider(command: str = "claude") -> ClaudeCLIProvider:
    return ClaudeCLIProvider("claude", ProviderConfig(type="claude_cli", command=command), {})


def ask(**kw: Any) -> ChatRequest:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    return ChatRequest(model=kw.pop("model", "sonnet"), messages=messages,
                       timeout=kw.pop("timeout", 10.0), **kw)


async def test_happy_path_complete(fake_claude: Path) -> None:
    done = await provider().complete(ask(tools=[{"type": "function"}]))
    assert done.content == "A whole message." and done.model == "claude-fake-1"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (17, 7)
    assert done.usage.cost_usd == pytest.approx(0.0123) and done.tool_calls == []
    (call,) = calls(fake_claude)
    assert call["argv"] == ["-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet"]
    assert call["stdin"] == "Be brief.\n\nHi?"


async def test_stream_yields_partial_deltas_then_completion(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "partial")
    items = [i async for i in provider().stream(ask())]
    *deltas, final = items
    assert deltas == ["Hello ", "from ", "partial ", "deltas."]  # the whole message is not repeated
    assert isinstance(final, Completion) and final.content == "Hello from partial deltas."


async def test_command_from_config_and_json_mode(fake_claude: Path) -> None:
    script = fake_claude / "bin" / "claude"
    done = await provider(f"{script} --permission-mode plan").complete(
        ask(model="openai/gpt-4o", json_mode=True))
    assert done.content
    (call,) = calls(fake_claude)
    assert call["argv"][:2] == ["--permission-mode", "plan"]
    assert "--model" not in call["argv"]  # not a Claude model: the CLI default is used
    assert call["stdin"].endswith("Reply with a single JSON object only, no prose and no code fence.")


def _exists(path: str) -> bool:
    return Path(path).exists()


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie has stopped; only its parent (init) may reap it


async def _child_pid(record_dir: Path) -> int:
    for _ in range(400):
        path = record_dir / "child.pid"
        if path.exists() and path.read_text():
            return int(path.read_text())
        await asyncio.sleep(0.01)
    raise AssertionError("the fake CLI never started its child")


async def test_timeout_kills_the_process_group(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        await provider().complete(ask(timeout=1.0))
    assert time.monotonic() - start < 3
    child = await _child_pid(fake_claude)
    for _ in range(200):
        if _dead(child):
            break
        await asyncio.sleep(0.01)
    assert _dead(child)


async def test_cancel_kills_the_process_group(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    task = asyncio.create_task(provider().complete(ask()))
    child = await _child_pid(fake_claude)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if _dead(child):
            break
        await asyncio.sleep(0.01)
    assert _dead(child)


async def test_the_cli_runs_in_an_empty_directory_without_heavys_secrets(
    fake_claude: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claude Code runs its own tools (Read, Bash...) on what a chat user asks: heavy's working
    # directory (a .env, a database) and heavy's tokens must be out of its reach.
    workdir = tmp_path / "heavy-workdir"
    workdir.mkdir()
    (workdir / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv")
    monkeypatch.chdir(workdir)
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1",
        "DISCORD_TOKEN": "d", "HEAVY_API_TOKEN": "h", "OPENROUTER_API_KEY": "sk-or-1",
        "HEAVY_LLM_API_KEY": "k", "HEAVY_DATABASE_URL": "postgresql://u:pw@db/heavy",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-the-cli-needs-this")
    assert (await provider().complete(ask())).content == "A whole message."
    (call,) = calls(fake_claude)
    assert Path(call["cwd"]) != workdir and call["files"] == []
    assert not _exists(call["cwd"])  # removed after the call
    assert not set(secrets) & set(call["env"])
    assert call["env"]["ANTHROPIC_API_KEY"] == "sk-ant-the-cli-needs-this"  # its own credential
    assert call["env"]["PATH"] == os.environ["PATH"]


async def test_an_output_line_over_the_limit_is_a_provider_error(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "long-line")
    monkeypatch.setattr("heavy_engine.providers._claude_cli._LINE_LIMIT", 1000)
    with pytest.raises(ProviderError, match="a line of the CLI's output is over 1,000 bytes"):
        await provider().complete(ask())


async def test_cli_error_result(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "error")
    with pytest.raises(ProviderError, match="credit balance is too low"):
        await provider().complete(ask())


async def test_exit_without_result_shows_stderr(
    fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "exit")
    with pytest.raises(ProviderError, match="code 1 without a result: Error: not logged in"):
        await provider().complete(ask())


async def test_missing_cli_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="Claude Code CLI was not found"):
        await provider(str(tmp_path / "nope")).complete(ask())


async def test_engine_run_on_claude_cli(fake_claude: Path) -> None:
    cfg = fake_config("http://127.0.0.1:9/v1", agents=2, model="sonnet",
                      providers={"fake": {"type": "claude_cli", "base_url": None}})
    async with Engine(cfg, env={}) as engine:
        result = await engine.run(HeavyRequest("Why is the sky blue?", cfg))
    assert result.status == "ok", result.error
    assert result.usage.cost_usd == pytest.approx(0.0123 * len(calls(fake_claude)))
    assert isinstance(ProviderPool({}).get("c", ProviderConfig(type="claude_cli")),
                      ClaudeCLIProvider)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "q"}], "q"),  # a lone question is sent as is
        ([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "s\n\nq"),  # system first
        ([{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
          {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "calc"}}]},
          {"role": "tool", "tool_call_id": "c1", "content": "4"}],
         "[Instructions]\ns\n\n[User]\nq\n\n[Assistant]\n\n(called: calc)\n\n[Tool result c1]\n4"),  # transcript
        ([{"role": "system", "content": "s"}, {"role": "user", "content": [
            {"type": "text", "text": "q"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
         "s\n\nq\n[image omitted]"),  # attached images cannot go through stdin
    ],
)
def test_render_prompt(messages: list[dict[str, Any]], expected: str) -> None:
    assert render_prompt(messages) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("sonnet", "sonnet"),  # CLI alias
        ("anthropic/claude-sonnet-4", "claude-sonnet-4"),  # OpenRouter name of a Claude model
        ("openai/gpt-4o-mini", None),  # not Claude: use the CLI default
        ("", None),  # nothing set
    ],
)
def test_cli_model(model: str, expected: str | None) -> None:
    assert cli_model(model) == expected
