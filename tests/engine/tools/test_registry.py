"""The tool interface: `execute_tool` never raises, the registry, and entry-point discovery."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from heavy_engine.plugins import PluginRegistry, group
from heavy_engine.tools import (
    Calculate,
    Tool,
    ToolContext,
    ToolFailed,
    ToolRefused,
    ToolRegistry,
    builtin_tools,
    execute_tool,
)
from tests.plugin_dist import install_dist

from .conftest import make_ctx

BUILTIN_NAMES = ["calculate", "fetch_url", "list_files", "mark_task_complete", "read_file",
                 "web_search", "write_file"]


class _Params(BaseModel):
    mode: Literal["ok", "refuse", "fail", "crash", "sleep", "long"] = "ok"
    n: int = Field(default=1, ge=1, le=5)


class Probe(Tool):
    name = "probe"
    description = "Behaves as told."
    Params = _Params

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        match params.mode:
            case "refuse":
                raise ToolRefused("127.0.0.1 is a loopback address")
            case "fail":
                raise ToolFailed("no network")
            case "crash":
                raise KeyError("boom")
            case "sleep":
                await asyncio.sleep(10)
            case "long":
                return "x" * 1000
        return f"ok {params.n}"


@pytest.mark.parametrize(("arguments", "expected", "ok"), [
    ('{"n": 2}', "ok 2", True),
    ("", "ok 1", True),  # no arguments at all: defaults
    ('{"mode": "refuse"}', "refused: 127.0.0.1 is a loopback address", False),
    ('{"mode": "fail"}', "error: no network", False),
    ('{"mode": "crash"}', "error: probe failed (KeyError)", False),  # no traceback to the model
    ('{"mode": "sleep"}', "error: probe timed out after 0.2 s", False),
    ("{not json", "error: invalid arguments for probe: Expecting property name", False),
    ("[1, 2]", "error: invalid arguments for probe: arguments must be a JSON object", False),
    ('{"n": 99}', "error: invalid arguments for probe: n: Input should be less than or equal to 5",
     False),
    ('{"mode": "long"}', "x" * 200 + "\n[truncated: 800 more characters]", True),
    # JSON nested past the recursion limit: json.loads raises RecursionError, not ValueError
    ('{"n": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "error: invalid arguments for probe: the arguments are nested too deeply", False),
    ('{"n": 1, "x": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
     "error: invalid arguments for probe: the arguments are nested too deeply", False),
])
async def test_execute_tool_never_raises(
    scratch: Path, arguments: str, expected: str, ok: bool, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_ctx(scratch, max_output_chars=200)
    with caplog.at_level(logging.CRITICAL, logger="heavy.tools"):
        res = await execute_tool(Probe(), "probe", arguments, ctx, timeout=0.2)
    assert res.text.startswith(expected), res.text
    assert res.ok is ok


async def test_unknown_tool_and_spent_deadline(scratch: Path) -> None:
    ctx = make_ctx(scratch)
    res = await execute_tool(None, "rm_rf", "{}", ctx, timeout=1)
    assert res.text == "error: there is no tool named 'rm_rf'"
    ctx.deadline = asyncio.get_running_loop().time() - 1
    res = await execute_tool(Probe(), "probe", "{}", ctx, timeout=1)
    assert res.text == "error: probe was not run: the request's time is up"


async def test_the_request_deadline_caps_the_tool_timeout(scratch: Path) -> None:
    ctx = make_ctx(scratch)
    ctx.deadline = asyncio.get_running_loop().time() + 0.1
    res = await execute_tool(Probe(), "probe", '{"mode": "sleep"}', ctx, timeout=30)
    assert res.text.startswith("error: probe timed out after 0.1 s")


def test_builtins_have_exactly_the_issue_names_and_valid_specs() -> None:
    tools = builtin_tools()
    assert sorted(t.name for t in tools) == BUILTIN_NAMES
    for tool in tools:
        spec = tool.spec()
        assert spec["type"] == "function"
        assert spec["function"]["parameters"]["type"] == "object"
        assert "title" not in spec["function"]["parameters"]


def test_registry_rejects_bad_and_duplicate_names() -> None:
    registry = ToolRegistry()
    registry.register(Probe())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Probe())
    bad = Probe()
    bad.name = "no spaces allowed"  # type: ignore[misc]
    with pytest.raises(ValueError, match="invalid tool name"):
        registry.register(bad)
    assert [t.name for t in registry.select(["probe", "unknown"])] == ["probe"]


_ACME = """
    from pydantic import BaseModel
    from heavy_engine.tools import Tool

    class _P(BaseModel):
        ticket: str

    class Jira(Tool):
        name = "acme_jira"
        description = "Look up an ACME ticket."
        Params = _P

        async def run(self, params, ctx):
            return f"ticket {params.ticket}: open"

    not_a_tool = object()
"""


async def test_entry_point_tools_are_discovered_and_broken_ones_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = install_dist(tmp_path / "site", "acme-tools", f"""
        [{group("tools")}]
        acme_jira = acme_tools:Jira
        missing_module = acme_nothing:Tool
        not_a_tool = acme_tools:not_a_tool
        renamed = acme_tools:Jira
        calculate = acme_tools:Jira
    """, {"acme_tools.py": _ACME})
    monkeypatch.syspath_prepend(str(site))
    registry = ToolRegistry()
    with caplog.at_level(logging.WARNING):
        broken = registry.add_plugins(PluginRegistry())
    # the entry point's name is the tool's name: `renamed` provides a tool called acme_jira
    assert sorted(broken) == ["missing_module", "not_a_tool", "renamed"]
    assert "already registered by builtin" in caplog.text  # a plugin cannot replace a built-in
    assert registry.names() == sorted([*BUILTIN_NAMES, "acme_jira"])
    assert isinstance(registry.get("calculate"), Calculate)
    jira = registry.get("acme_jira")
    res = await execute_tool(jira, "acme_jira", '{"ticket": "OPS-1"}',
                             make_ctx(tmp_path), timeout=1)
    assert res.text == "ticket OPS-1: open"


@pytest.mark.parametrize(("entry", "ok"), [
    ("127.0.0.1", True), ("10.0.0.0/8", True), ("[::1]", True), ("fd00::/8", True),
    ("wiki.corp", True), ("*.corp.example", True),
    ("http://wiki.corp", False),  # a URL, not a host
    ("*", False),  # would be everything: say so with 0.0.0.0/0 and ::/0 instead
    ("", False),
])
def test_fetch_allow_hosts_entries_are_validated(entry: str, ok: bool) -> None:
    from pydantic import ValidationError

    from heavy_engine import ToolSettings

    if ok:
        ToolSettings(fetch_allow_hosts=[entry])
    else:
        with pytest.raises(ValidationError, match="is not an IP address, CIDR, host name"):
            ToolSettings(fetch_allow_hosts=[entry])
