"""Agent tools: the interface, the registry and the built-in tools."""

from __future__ import annotations

from ..plugins import PluginRegistry
from ..plugins import registry as plugin_registry
from ._base import (
    Tool,
    ToolContext,
    ToolFailed,
    ToolOutput,
    ToolRefused,
    ToolRegistry,
    ToolResult,
    execute_tool,
)
from ._calculate import Calculate, evaluate
from ._complete import COMPLETE_TOOL, MarkTaskComplete
from ._fetch import FetchUrl
from ._files import ListFiles, ReadFile, WriteFile
from ._html import TOO_SLOW_NOTE, html_to_text
from ._netguard import Resolver, forbidden_reason, parse_ip, system_resolver
from ._search import WebSearch, format_results
from .search import parse_results, result_url


def builtin_tools() -> list[Tool]:
    """One instance of each built-in tool, with production defaults."""
    registry = ToolRegistry()
    registry.add_plugins(PluginRegistry(entry_points=False))
    return [t for n in registry.names() if (t := registry.get(n)) is not None]


def default_registry(plugins: PluginRegistry | None = None) -> ToolRegistry:
    """The tools of `plugins` (default: the process-wide registry, built-ins first)."""
    registry = ToolRegistry()
    registry.add_plugins(plugins if plugins is not None else plugin_registry())
    return registry


__all__ = [
    "COMPLETE_TOOL",
    "TOO_SLOW_NOTE",
    "Calculate",
    "FetchUrl",
    "ListFiles",
    "MarkTaskComplete",
    "ReadFile",
    "Resolver",
    "Tool",
    "ToolContext",
    "ToolFailed",
    "ToolOutput",
    "ToolRefused",
    "ToolRegistry",
    "ToolResult",
    "WebSearch",
    "WriteFile",
    "builtin_tools",
    "default_registry",
    "evaluate",
    "execute_tool",
    "forbidden_reason",
    "format_results",
    "html_to_text",
    "parse_ip",
    "parse_results",
    "result_url",
    "system_resolver",
]
