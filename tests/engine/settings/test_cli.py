"""`heavy config ...` and `heavy db ...` end to end, on a database in tmp_path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from heavy_engine.cli import main

SCOPE = ["--platform", "slack", "--workspace", "T1"]
CHANNEL = [*SCOPE, "--channel", "C1"]


@pytest.fixture(autouse=True)
def _operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    (tmp_path / "config.yaml").write_text(
        "model: a/small\nallowed_models: [a/small, a/large]\n", encoding="utf-8")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_set_show_unset_history_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", *SCOPE, "model=a/large", "timeout=120"]) == 0
    assert main(["config", "set", *CHANNEL, "agents=3", "tools=mark_task_complete",
                 "agent.2.system_prompt=Be brief."]) == 0

    shown = _json(capsys, ["config", "show", *CHANNEL, "--json"])
    assert set(shown) == {"effective", "source"}
    assert shown["effective"]["model"] == "a/large"
    assert shown["effective"]["timeout"] == 120.0
    assert shown["effective"]["agents"] == 3
    assert shown["effective"]["tools"] == ["mark_task_complete"]
    assert shown["effective"]["agent.2.system_prompt"] == "Be brief."
    assert shown["source"] == {
        "model": "workspace", "orchestrator_model": "default", "agents": "channel",
        "system_prompt": "default", "temperature": "default", "max_iterations": "default",
        "timeout": "workspace", "tools": "channel", "search": "default",
        "thread_policy": "default", "agent.2.system_prompt": "channel", "rounds": "default", "max_agents": "default",
        "roles": "default", "budget_tokens": "default", "budget_cost_usd": "default",
        "quorum": "default", "grace_s": "default", "instructions": "default",
        "synthesis_temperature": "default", "synthesis_max_tokens": "default",
        "allow_users": "default", "block_users": "default", "allow_roles": "default",
    }

    assert main(["config", "unset", *CHANNEL, "agents"]) == 0
    shown = _json(capsys, ["config", "show", *CHANNEL, "--json"])
    assert (shown["effective"]["agents"], shown["source"]["agents"]) == (4, "default")

    history = _json(capsys, ["config", "history", *CHANNEL, "--json"])
    assert [set(entry) >= {"at", "by", "before", "after"} for entry in history] == [True] * 2
    assert history[0]["before"]["agents"] == 3 and "agents" not in history[0]["after"]
    assert history[1]["before"] == {}
    assert all(entry["by"].startswith("cli:") for entry in history)

    assert main(["config", "show", *CHANNEL]) == 0
    text = capsys.readouterr().out
    assert "version 2" in text and "a/large" in text and "(workspace)" in text
    assert main(["config", "history", *CHANNEL]) == 0
    assert "agents: 3 -> unset" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "named"), [
    (["model=z/unlisted"], "model: 'z/unlisted' is not allowed; allowed models: a/small"),
    (["agents=3", "temperature=9"], "temperature: "),  # one bad key refuses the whole write
    (["colour=blue"], "colour: not a setting"),  # unknown key
    (["tools=no_such_tool"], "tools: unknown tool"),  # tools must exist
    (["agents"], "agents: expected key=value"),  # no value
])
def test_refused_write_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert main(["config", "set", *CHANNEL, *argv]) == 2
    assert named in capsys.readouterr().err
    history = _json(capsys, ["config", "history", *CHANNEL, "--json"])
    assert history == []


def test_unset_of_an_unknown_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "unset", *CHANNEL, "colour"]) == 2
    assert "colour" in capsys.readouterr().err


def test_stale_expected_version_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", *CHANNEL, "agents=2"]) == 0
    assert main(["config", "set", *CHANNEL, "agents=3", "--expect-version", "1"]) == 0
    assert main(["config", "set", *CHANNEL, "agents=5", "--expect-version", "1"]) == 1
    assert "changed" in capsys.readouterr().err
    assert main(["config", "reset", *CHANNEL]) == 0
    assert _json(capsys, ["config", "show", *CHANNEL, "--json"])["source"]["agents"] == "default"


def test_db_upgrade_downgrade_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.startswith("empty")
    assert main(["db", "upgrade"]) == 0
    assert "(head)" in capsys.readouterr().out
    assert main(["db", "downgrade", "base"]) == 0
    assert capsys.readouterr().out.startswith("empty")


def test_sqlite_migrates_itself_on_first_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "downgrade", "base"]) == 0
    assert main(["config", "show", *SCOPE]) == 0  # the embedded default needs no upgrade step
    assert main(["db", "current"]) == 0
    assert "(head)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["db", "upgrade"],  # the operator's migration command
    ["config", "show", *SCOPE],  # and a settings command
])
def test_a_missing_database_driver_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", "postgresql+asyncpg://heavy@db.invalid/heavy")
    if importlib.util.find_spec("asyncpg") is not None:
        pytest.skip("asyncpg is installed")
    assert main(argv) == 2
    assert "driver 'asyncpg' is not installed" in capsys.readouterr().err
