"""Agent tools: the interface, the registry and the built-in tools."""

from __future__ import annotations

from ._base import (
    ENTRY_POINT_GROUP,
    Tool,
    ToolContext,
    ToolFailed,
    ToolRefused,
    ToolRegistry,
    ToolResult,
    execute_tool,
)
from ._calculate import Calculate
from ._complete import COMPLETE_TOOL, MarkTaskComplete
from ._fetch import FetchUrl
from ._files import ListFiles, ReadFile, WriteFile
from ._netguard import Resolver
from ._search import WebSearch


def builtin_tools() -> list[Tool]:
    """One instance of each built-in tool, with production defaults."""
    return [
        Calculate(), WebSearch(), FetchUrl(), ReadFile(), WriteFile(), ListFiles(),
        MarkTaskComplete(),
    ]


def default_registry(*, entry_points: bool = True) -> ToolRegistry:
    """Built-in tools plus (unless disabled) third-party tools from entry points."""
    registry = ToolRegistry()
    for tool in builtin_tools():
        registry.register(tool)
    if entry_points:
        registry.load_entry_points()
    return registry


__all__ = [
    "COMPLETE_TOOL",
    "ENTRY_POINT_GROUP",
    "Calculate",
    "FetchUrl",
    "ListFiles",
    "MarkTaskComplete",
    "ReadFile",
    "Resolver",
    "Tool",
    "ToolContext",
    "ToolFailed",
    "ToolRefused",
    "ToolRegistry",
    "ToolResult",
    "WebSearch",
    "WriteFile",
    "builtin_tools",
    "default_registry",
    "execute_tool",
]
