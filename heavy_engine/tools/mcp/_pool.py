"""Every configured MCP server of the process, and which of their tools a run gets.

One `McpPool` per `Engine` (so per process): servers are started on first need and shared by
all runs. `select()` is what a run calls before its agents start: it waits for the servers it
names (a start in progress, at most its `start_timeout`) and answers the tools that are up plus
one line per server that is not, for the agent. It never raises.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ...core import PREFIX, McpServerConfig, split_name
from .._base import Tool
from ._server import McpServer, ServerStatus
from ._tool import make_tool


@dataclass(slots=True)
class McpSelection:
    """The MCP tools one run may use, and the servers it asked for that are down."""

    by_server: dict[str, list[Tool]] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)  # server -> reason
    servers: tuple[str, ...] = ()

    def tools_for(self, names: Iterable[str]) -> list[Tool]:
        """The tools `names` ask for (whole servers and single tools), in order, once each."""
        out: dict[str, Tool] = {}
        for name in names:
            parts = split_name(name, self.servers)
            if parts is None:
                continue
            for tool in self.by_server.get(parts[0], []):
                if parts[1] is None or tool.name == name:
                    out.setdefault(tool.name, tool)
        return list(out.values())

    def notes_for(self, names: Iterable[str]) -> list[str]:
        """One line per server `names` ask for that is down: what the agent is told."""
        wanted = dict.fromkeys(p[0] for n in names if (p := split_name(n, self.servers)))
        return [f"The tools of MCP server {s!r} are unavailable for this run ({self.down[s]}); "
                "go on with the other tools." for s in wanted if s in self.down]


class McpPool:
    def __init__(self, servers: Mapping[str, McpServerConfig],
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.servers = {name: McpServer(name, cfg, env) for name, cfg in servers.items()}
        self._tools: dict[str, tuple[int, list[Tool]]] = {}  # server -> (generation, tools)

    def wanted(self, names: Iterable[str]) -> list[str]:
        """The configured servers that `names` refer to, in order."""
        return list(dict.fromkeys(p[0] for n in names if (p := split_name(n, self.servers))))

    async def select(self, names: Iterable[str]) -> McpSelection:
        names = [n for n in names if n.startswith(PREFIX)]
        wanted = self.wanted(names)
        selection = McpSelection(servers=tuple(self.servers))
        if not wanted:
            return selection
        up = await asyncio.gather(*(self.servers[s].ready() for s in wanted))
        for server_name, ok in zip(wanted, up, strict=True):
            server = self.servers[server_name]
            if ok:
                selection.by_server[server_name] = self._tools_of(server)
            else:
                selection.down[server_name] = server.reason or server.state
        return selection

    def _tools_of(self, server: McpServer) -> list[Tool]:
        """Built once per session that came up (the listing may differ after a restart)."""
        cached = self._tools.get(server.name)
        if cached is None or cached[0] != server.generation:
            seen: set[str] = set()
            tools: list[Tool] = []
            for info in server.listing:
                tool = make_tool(server, info)
                if tool.name not in seen:
                    seen.add(tool.name)
                    tools.append(tool)
            cached = (server.generation, tools)
            self._tools[server.name] = cached
        return cached[1]

    def status(self) -> list[ServerStatus]:
        return [s.status() for s in self.servers.values()]

    async def aclose(self) -> None:
        """Stop every server (stdio processes included), concurrently and bounded."""
        await asyncio.gather(*(s.aclose() for s in self.servers.values()))

