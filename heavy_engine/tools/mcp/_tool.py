"""An MCP server's tool as a heavy `Tool`: `mcp__<server>__<tool>`, run on the shared session.

The arguments are passed through as the model wrote them (the server checks them against its
own schema and answers an error result the model can read); the schema the model sees is the
server's, simplified (see `_schema`). Timeout, result cap, events and cancellation are the agent
loop's, as for every tool.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

from mcp.types import Tool as McpToolInfo
from pydantic import BaseModel, ConfigDict

from ...core import PREFIX
from .._base import Tool, ToolContext, ToolFailed, ToolOutput
from ._content import to_output
from ._schema import simplify_schema
from ._server import McpServer

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64  # OpenAI's limit on a function name
MAX_DESCRIPTION = 2000


class Arguments(BaseModel):
    """Any JSON object: the MCP server validates its own arguments."""

    model_config = ConfigDict(extra="allow")


class McpTool(Tool):
    """Base of the per-tool classes `make_tool` builds (a tool's name is a class attribute)."""

    Params: ClassVar[type[BaseModel]] = Arguments
    server: ClassVar[McpServer]
    remote_name: ClassVar[str]  # the tool's name on its server
    schema: ClassVar[dict[str, Any]]

    def spec(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.schema}}

    async def run(self, params: Any, ctx: ToolContext) -> ToolOutput:
        result = await self.server.call(self.remote_name, params.model_dump())
        out = to_output(result)
        if result.is_error:
            raise ToolFailed(out.text)
        return out


def tool_name(server: str, remote: str) -> str:
    """`mcp__<server>__<tool>`, made a valid OpenAI function name (at most 64 of
    [A-Za-z0-9_-]); a name that had to change keeps a short hash of the original."""
    safe = _UNSAFE.sub("_", remote)
    name = f"{PREFIX}{server}__{safe}"
    if safe == remote and len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(remote.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}_{digest}"


def make_tool(server: McpServer, info: McpToolInfo) -> McpTool:
    description = (info.description or info.title or info.name).strip()[:MAX_DESCRIPTION]
    attrs = {
        "name": tool_name(server.name, info.name),
        "description": f"{description} (MCP server {server.name})",
        "server": server,
        "remote_name": info.name,
        "schema": simplify_schema(info.input_schema),
        "call_timeout": server.config.timeout,
    }
    cls = type(f"McpTool_{server.name}_{info.name}", (McpTool,), attrs)
    tool: McpTool = cls()
    return tool
