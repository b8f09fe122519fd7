"""The HTTP service of `heavy serve`: the aiohttp app (API, SSE, page, health, metrics), its
listening socket, which runner a process uses (its role), and hosting the chat adapters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports as _exports
from ._adapters import load_adapters
from ._api import Api
from ._callers import NamedTokens, load_named_tokens
from ._http import READY, build_app
from ._intake import submit_job
from ._listen import connection_options, listen
from ._request_guard import AllowedHosts, signed_webhook
from ._roles import ROLES, Role, build_runner

if TYPE_CHECKING:
    from ._mcp_tools import build_mcp_server

# The MCP server loads on first use (PEP 562): the `mcp` SDK is a large import.
_LAZY = {"build_mcp_server": "_mcp_tools"}

__all__ = [
    "READY",
    "ROLES",
    "AllowedHosts",
    "Api",
    "NamedTokens",
    "Role",
    "build_app",
    "build_mcp_server",
    "build_runner",
    "connection_options",
    "listen",
    "load_adapters",
    "load_named_tokens",
    "signed_webhook",
    "submit_job",
]


__getattr__, __dir__ = _exports(__name__, _LAZY)
