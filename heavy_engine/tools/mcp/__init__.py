"""MCP servers as agent tools, through the official `mcp` SDK (client side).

Imported only when `mcp_servers` is configured (or by `heavy tools`): the SDK is a large import.
"""

from __future__ import annotations

from ._content import to_output
from ._pool import McpPool, McpSelection
from ._schema import simplify_schema
from ._server import McpServer, ServerStatus
from ._tool import McpTool, make_tool, tool_name

__all__ = [
    "McpPool",
    "McpSelection",
    "McpServer",
    "McpTool",
    "ServerStatus",
    "make_tool",
    "simplify_schema",
    "to_output",
    "tool_name",
]
