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
from ._complete import COMPLETE_TOOL, MarkTaskComplete


def builtin_tools() -> list[Tool]:
    return [MarkTaskComplete()]


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
    "MarkTaskComplete",
    "Tool",
    "ToolContext",
    "ToolFailed",
    "ToolRefused",
    "ToolRegistry",
    "ToolResult",
    "builtin_tools",
    "default_registry",
    "execute_tool",
]
