"""`heavy tools`: every tool the configuration offers, built-in and MCP, and each server's state.

Every configured MCP server is started (as a run would start it), listed and stopped, so an
operator sees a broken set-up before a user does. Exit code 1 when a server is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .. import HeavyConfig
from ._common import load_or_exit


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tools", parents=[parent],
                       help="list the tools agents can use (built-in and MCP) and server states")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=run)


@dataclass(slots=True, frozen=True)
class ToolRow:
    name: str
    source: str  # builtin, a plugin's distribution, or mcp:<server>
    state: str  # ready (built-in), up, down, or missing (named in tools, not offered)
    enabled: bool  # in the operator's `tools` (every agent gets it)
    allowed: bool  # channel admins may turn it on (`allowed_tools`, else `tools`)
    description: str = ""
    reason: str | None = None  # why a server is down (and its last stderr line)


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    rows, servers = asyncio.run(collect(config, os.environ))
    if args.json:
        print(json.dumps({"tools": [asdict(r) for r in rows], "servers": servers}, indent=2))
    else:
        print(render(rows))
    return 1 if any(s["state"] != "up" for s in servers.values()) else 0


async def collect(
    config: HeavyConfig, env: Mapping[str, str]
) -> tuple[list[ToolRow], dict[str, dict[str, Any]]]:
    """The rows of the listing, and each MCP server's status (as in /healthz, with detail)."""
    from ..core import PREFIX, permits
    from ..plugins import registry
    from ..tools import default_registry

    servers = config.mcp_servers

    def row(name: str, source: str, state: str, description: str = "",
            reason: str | None = None) -> ToolRow:
        return ToolRow(name, source, state, permits(config.tools, name, servers),
                       permits(config.choosable_tools, name, servers), description, reason)

    tools = default_registry()
    sources = {p.name: p.source for p in registry().plugins("tools")}
    rows = [row(n, sources.get(n, "builtin"), "ready", _first_line(t.description))
            for n in tools.names() if (t := tools.get(n)) is not None]
    status: dict[str, dict[str, Any]] = {}
    if not servers:
        return rows, status
    from ..tools.mcp import McpPool

    pool = McpPool(servers, env)
    try:
        selection = await pool.select([f"{PREFIX}{s}" for s in servers])
        for s in pool.status():
            status[s.name] = s.as_dict(detail=True)
            if s.state != "up":
                why = s.reason or s.state
                rows.append(row(f"{PREFIX}{s.name}", f"mcp:{s.name}", s.state, reason=(
                    f"{why} (stderr: {s.detail})" if s.detail else why)))
                continue
            offered = selection.tools_for([f"{PREFIX}{s.name}"])
            rows += [row(t.name, f"mcp:{s.name}", "up", _first_line(t.description))
                     for t in offered]
            names = {t.name for t in offered}
            rows += [row(n, f"mcp:{s.name}", "missing", reason="the server offers no such tool")
                     for n in [*config.tools, *config.allowed_tools]
                     if n.startswith(f"{PREFIX}{s.name}__") and n not in names]
    finally:
        await pool.aclose()
    return rows, status


def render(rows: list[ToolRow]) -> str:
    """A plain table: name, source, state, where it is on, description or reason."""
    head = ("TOOL", "SOURCE", "STATE", "ON", "DESCRIPTION")
    lines = [(r.name, r.source, r.state, _where(r), r.reason or r.description) for r in rows]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(x[:4], widths, strict=True)) + "  " + x[4]
        for x in [head, *lines]).rstrip()


def _where(row: ToolRow) -> str:
    if row.enabled:
        return "tools"
    return "allowed" if row.allowed else "-"


def _first_line(text: str, limit: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"

