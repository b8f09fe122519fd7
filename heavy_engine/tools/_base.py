"""The tool interface, the registry, and the one function that runs a tool call safely.

A tool declares `name`, `description` and a pydantic `Params` model (its JSON schema is what the
model sees) and implements `async run(params, ctx) -> str` (or a `ToolOutput`, for a tool that
also returns images or URLs). Raise `ToolRefused` for a policy
refusal and `ToolFailed` for an ordinary failure: both become a tool result the model can read.
Nothing a tool does can crash the agent loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ..core import SearchConfig, Source, ToolSettings
from ..plugins import PluginRegistry
from ._scratch import remove_tree

# What OpenAI-compatible APIs accept as a function name.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

log = logging.getLogger("heavy.tools")


class ToolRefused(Exception):
    """The call was refused on purpose (a forbidden path, address, expression...)."""


class ToolFailed(Exception):
    """The call was allowed but did not work (no network, not found...)."""


class ToolContext:
    """What a tool may use during one request.

    The scratch directory is per request and made on first use: most runs never touch a file,
    and creating and deleting a directory costs more than the rest of a run's bookkeeping.
    """

    __slots__ = ("_made", "_scratch", "deadline", "extra", "request_id", "scratch_root", "search",
                 "settings")

    def __init__(
        self,
        request_id: str,
        scratch_dir: Path | None = None,
        settings: ToolSettings | None = None,
        deadline: float | None = None,  # loop.time() by which everything must stop
        extra: dict[str, Any] | None = None,
        *,
        scratch_root: Path | None = None,
        search: SearchConfig | None = None,  # the back-ends `web_search` asks, in order
    ) -> None:
        self.request_id = request_id
        self._scratch = scratch_dir
        self._made = False
        self.scratch_root = scratch_root
        self.settings = settings if settings is not None else ToolSettings()
        self.deadline = deadline
        self.extra = extra if extra is not None else {}
        self.search = search if search is not None else SearchConfig()

    @property
    def scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(
                tempfile.mkdtemp(prefix=f"heavy-{self.request_id}-", dir=self.scratch_root)
            )
            self._made = True
        return self._scratch

    def cleanup(self) -> None:
        """Delete the scratch directory if this context made it."""
        if self._made and self._scratch is not None:
            remove_tree(self._scratch)  # iterative: any depth, read-only folders too
            self._scratch, self._made = None, False

    async def aclose(self) -> None:
        """`cleanup` in a worker thread: removing a full directory can take the disk a second.
        Cancelling the wait does not stop the removal."""
        if self._made and self._scratch is not None:
            path, self._scratch, self._made = self._scratch, None, False
            await asyncio.to_thread(remove_tree, path)


@dataclass(slots=True, frozen=True)
class ToolOutput:
    """What a tool returns besides its text: images (OpenAI `image_url` parts, shown only to
    vision models), pages it read (`fetched`: sources) and pages it found (`found`: sources
    once the answer cites them, like search results)."""

    text: str
    images: tuple[dict[str, Any], ...] = ()
    fetched: tuple[Source, ...] = ()
    found: tuple[Source, ...] = ()


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    call_timeout: ClassVar[float | None] = None  # seconds per call; None: the run's tool timeout

    @abstractmethod
    async def run(self, params: Any, ctx: ToolContext) -> str | ToolOutput:
        """Do the work; return text for the model."""

    def spec(self) -> dict[str, Any]:
        """The OpenAI `tools` entry for this tool (built once: pydantic's schema is slow)."""
        cached: dict[str, Any] | None = self.__dict__.get("_spec")
        if cached is None:
            schema = self.Params.model_json_schema()
            schema.pop("title", None)
            cached = {
                "type": "function",
                "function": {
                    "name": self.name, "description": self.description, "parameters": schema,
                },
            }
            self.__dict__["_spec"] = cached
        return cached


@dataclass(slots=True, frozen=True)
class ToolResult:
    text: str
    ok: bool
    elapsed_s: float
    extra: ToolOutput | None = None  # images and sources, when the tool returned any


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[truncated: {len(text) - limit} more characters]"


async def execute_tool(
    tool: Tool | None,
    name: str,
    raw_arguments: str,
    ctx: ToolContext,
    timeout: float,  # noqa: ASYNC109 - combined with the deadline below, used by the engine
) -> ToolResult:
    """Parse, validate and run one call under `timeout` and the request deadline. Never raises
    (except for cancellation, which must propagate)."""
    start = time.monotonic()

    def result(text: str, ok: bool, extra: ToolOutput | None = None) -> ToolResult:
        return ToolResult(
            _truncate(text, ctx.settings.max_output_chars), ok, time.monotonic() - start, extra
        )

    if tool is None:
        return result(f"error: there is no tool named {name[:64]!r}", False)
    try:
        args = json.loads(raw_arguments or "{}")
        if not isinstance(args, dict):
            raise ValueError("arguments must be a JSON object")
        params = tool.Params.model_validate(args)
    except (ValueError, ValidationError) as err:
        return result(f"error: invalid arguments for {name}: {_short(err)}", False)
    except RecursionError:  # json.loads of deeply nested arrays or objects
        return result(f"error: invalid arguments for {name}: the arguments are nested too deeply",
                      False)
    if ctx.deadline is not None:
        timeout = min(timeout, ctx.deadline - asyncio.get_running_loop().time())
    if timeout <= 0:
        return result(f"error: {name} was not run: the request's time is up", False)
    try:
        async with asyncio.timeout(timeout):
            out = await tool.run(params, ctx)
    except ToolRefused as err:
        return result(f"refused: {err}", False)
    except ToolFailed as err:
        return result(f"error: {err}", False)
    except TimeoutError:
        return result(f"error: {name} timed out after {timeout:.1f} s", False)
    except Exception as err:  # a buggy tool must not take the agent down
        log.exception("tool %s crashed (request %s)", name, ctx.request_id)
        return result(f"error: {name} failed ({type(err).__name__})", False)
    if isinstance(out, ToolOutput):
        return result(out.text, True, out)
    return result(out if isinstance(out, str) else str(out), True)


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors()
        )
    return str(err)


class ToolRegistry:
    """The tools one engine offers: built-ins and `heavy.tools` plugins (see `heavy_engine.plugins`)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        """Add a tool; `ValueError` for an invalid name or one already taken."""
        name = getattr(tool, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"invalid tool name {name!r} (letters, digits, _ and -, at most 64)")
        if name in self._tools:
            raise ValueError(f"a tool named {name!r} is already registered")
        self._tools[name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def select(self, names: list[str]) -> list[Tool]:
        """The tools named, in order; unknown names are skipped (validated at write time)."""
        return [t for n in names if (t := self._tools.get(n)) is not None]

    def add_plugins(self, registry: PluginRegistry) -> list[str]:
        """Build and register every tool of `registry`; returns the names that failed.

        A plugin names a `Tool` subclass (built without arguments), a `Tool` instance, or a
        factory returning one, whose `name` is the plugin's name. A broken plugin is logged
        and skipped, never fatal.
        """
        broken = []
        for plugin in registry.plugins("tools"):
            try:
                obj = plugin.load()
                tool = obj() if callable(obj) and not isinstance(obj, Tool) else obj
                if not isinstance(tool, Tool):
                    raise TypeError(f"{plugin.value} is not a heavy_engine Tool")
                if tool.name != plugin.name:
                    raise ValueError(f"the tool is named {tool.name!r}, not {plugin.name!r}")
                self.register(tool)
            except Exception as err:
                log.warning("tool plugin %r (from %s) is broken: %s",
                            plugin.name, plugin.source, err)
                broken.append(plugin.name)
        return broken
