"""`heavy tools`: the built-in tools and every MCP server's tools and state, as a table or JSON.

The third-party server is the real `mcp-server-time` from the dev extra, run over stdio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from heavy_engine.cli import main

from ..tools.mcp.conftest import stdio, time_server


def write_config(tmp_path: Path, **data: object) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_the_third_party_server_is_listed_and_a_broken_one_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(
        tmp_path, mcp_servers={"time": time_server(), "tickets": stdio("exit")},
        tools=["calculate", "mcp__time", "mcp__time__nope"], allowed_tools=["mcp__tickets"])
    assert main(["tools", "--json", "--config", config]) == 1  # a server is down
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["tools"]}
    time_tools = [n for n, r in rows.items() if r["source"] == "mcp:time"]
    assert time_tools == ["mcp__time__get_current_time", "mcp__time__convert_time",
                          "mcp__time__nope"]
    assert rows["mcp__time__get_current_time"] == {
        "name": "mcp__time__get_current_time", "source": "mcp:time", "state": "up",
        "enabled": True, "allowed": False, "reason": None,  # allowed_tools names tickets only
        "description": "Get current time in a specific timezone (MCP server time)"}
    assert rows["mcp__time__nope"]["state"] == "missing"
    assert rows["calculate"]["source"] == "builtin" and rows["calculate"]["enabled"]
    assert not rows["web_search"]["enabled"] and not rows["web_search"]["allowed"]
    tickets = rows["mcp__tickets"]
    assert (tickets["state"], tickets["enabled"], tickets["allowed"]) == ("down", False, True)
    assert tickets["reason"].startswith("the server exited or closed the connection")
    assert tickets["reason"].endswith("(stderr: tickets-mcp: cannot reach the ticket database)")
    assert out["servers"]["time"] == {"state": "up", "transport": "stdio", "tools": 2,
                                      "restarts": 0}
    assert out["servers"]["tickets"]["detail"] == "tickets-mcp: cannot reach the ticket database"


def test_the_table_and_exit_code_0_when_every_server_is_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, mcp_servers={"time": time_server()},
                          tools=["calculate", "mcp__time__convert_time"])
    assert main(["tools", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TOOL", "SOURCE", "STATE", "ON", "DESCRIPTION"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows["calculate"] == ["builtin", "ready", "tools"]
    assert rows["mcp__time__convert_time"] == ["mcp:time", "up", "tools"]
    assert rows["mcp__time__get_current_time"] == ["mcp:time", "up", "-"]


def test_without_mcp_servers_the_built_ins_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, tools=["calculate"])
    assert main(["tools", "--json", "--config", config]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["servers"] == {} and "calculate" in {r["name"] for r in out["tools"]}


def test_the_sdk_is_imported_only_when_servers_are_configured() -> None:
    code = ("import sys; import heavy_engine.cli, heavy_engine.jobs, heavy_engine.service; "
            "from heavy_engine import Engine, HeavyConfig; "
            "assert Engine(HeavyConfig()).mcp_status() == []; print('mcp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
