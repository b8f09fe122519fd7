"""What `heavy ask` puts on the screen when things go wrong: a failed run said once, errors in
the user's terms, warnings as the CLI's own lines, a usage error before anything else, and a
clean screen after Ctrl-C (in a real terminal, tmux)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heavy_engine.testing import FakeLLM, error_reply

from .helpers import heavy

REPO = Path(__file__).resolve().parents[3]


async def test_a_refused_model_is_drawn_failed_and_said_once(
        llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    llm_env.enqueue(error_reply(404, "No endpoints found for fake/typo."), when="decompose")
    assert await heavy("ask", "Which database?") == 1
    err = capsys.readouterr().err
    assert re.search(r"^heavy \w+ · failed · \d+\.\ds$", err, re.M), err
    assert "done" not in err and "0/0 agents" not in err  # no empty table, no empty footer
    assert err.count("No endpoints found for fake/typo.") == 1, err
    assert f"heavy: failed: LLM server {llm_env.base_url}: unknown model" in err
    assert "openrouter" not in err  # the server the user configured, not the default's name


async def test_no_server_at_the_address_says_so_in_words_after_one_retry(
        unused_port: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEAVY_LLM_BASE_URL", f"http://127.0.0.1:{unused_port}/v1")
    assert await heavy("ask", "--agents", "3", "Which database?") == 1
    err = capsys.readouterr().err
    assert err.count(f"connection refused at 127.0.0.1:{unused_port} (tried 2 times)") == 1, err
    assert "Error" not in err and "openrouter" not in err


async def test_warnings_during_a_run_read_as_the_cli_own_lines(
        fake_llm: FakeLLM, tmp_path: Path) -> None:
    # The decomposition is refused (a 422): the run goes on with fallback sub-questions and
    # says so. A child process: the logging set-up is `main`'s own, not pytest's.
    fake_llm.enqueue(error_reply(422, "unprocessable"), when="decompose")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HEAVY_MODEL": "fake/model",
           "HEAVY_LLM_BASE_URL": fake_llm.base_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "heavy_engine.cli", "ask", "--agents", "2", "Which database?",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, raw = await asyncio.wait_for(proc.communicate(), 60)
    err = raw.decode()
    assert proc.returncode == 0, err
    [line] = [ln for ln in err.splitlines() if "decomposition failed" in ln]
    assert line.startswith("warning: decomposition failed (LLM server "), line
    assert not re.search(r"\d\d:\d\d:\d\d|WARNING|heavy\.engine", line)  # no logging furniture


async def test_an_empty_question_is_a_usage_error_before_any_warning(
        capsys: pytest.CaptureFixture[str]) -> None:
    # No key is set: a real question would get the simulated-model warning first.
    assert await heavy("ask", "") == 2
    assert capsys.readouterr().err == (
        "heavy: The question is empty: ask something after the command.\n")


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_load_no_heavy_module(argv: list[str]) -> None:
    # What keeps them fast: neither the engine nor its libraries are imported.
    script = ("import sys\nfrom heavy_engine.cli import main\ntry:\n    main(sys.argv[1:])\n"
              "except SystemExit:\n    pass\n"
              "heavy = ('heavy_engine.core._config', 'heavy_engine.core._engine', 'pydantic', 'aiohttp',"
              " 'sqlalchemy', 'rich')\n"
              "print('LOADED', [m for m in heavy if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "LOADED []" in out, out


# -- in a real terminal ------------------------------------------------------------------------


def _wait_screen(tmux: list[str], session: str, pattern: str, within: float = 60) -> str:
    """The screen once `pattern` shows on it (generous: a loaded machine starts slowly)."""
    end = time.monotonic() + within
    while True:
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True, check=True).stdout
        if re.search(pattern, screen, re.M):
            return screen
        if time.monotonic() > end:
            raise AssertionError(f"{pattern!r} never showed; the screen:\n{screen}")
        time.sleep(0.1)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_ctrl_c_leaves_one_header_that_says_interrupted(tmp_path: Path) -> None:
    tmux, session = ["tmux", "-S", str(tmp_path / "tmux.sock")], "ask"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "xterm-256color",
           "PYTHONPATH": str(REPO), "HEAVY_SIMULATED_PACE": "2"}  # slow: still running at ^C
    command = (f"{sys.executable} -m heavy_engine.cli ask --agents 2 'Which database?'; "
               "echo EXIT=$?; sleep 60")
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                    "-c", str(tmp_path), command], env=env, check=True)
    try:
        _wait_screen(tmux, session, r"· (decomposing|researching) ·")
        subprocess.run([*tmux, "send-keys", "-t", session, "C-c"], check=True)
        screen = _wait_screen(tmux, session, r"^EXIT=")
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
    headers = [ln for ln in screen.splitlines() if ln.startswith("heavy ")]
    assert len(headers) == 1, screen
    assert " · interrupted · " in headers[0], screen
    assert "EXIT=130" in screen and "Traceback" not in screen
