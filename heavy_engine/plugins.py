"""One plugin registry for LLM providers, agent tools, chat adapters and search back-ends.

Convention: a distribution publishes an entry point in the group `heavy.<kind>` (`heavy.providers`,
`heavy.tools`, `heavy.adapters`, `heavy.search`). The entry point's name is what it provides (a
provider `type:`, a tool name, an adapter name, a `search.backend` name) and its value is
`module:attr`, the factory:

- providers: `(name, ProviderConfig, env) -> Provider` (a class with that constructor will do);
- tools: a `Tool` subclass (built without arguments), a `Tool` instance or a factory of one;
- adapters: `(Services) -> Adapter | None` (None when its credentials are not set);
- search: `(SearchBackendConfig, env) -> SearchBackend` (see `heavy_engine.tools.search`).

heavy's own providers and tools are listed in `BUILTINS` in that same form and go through the
same code, first (as simonw/llm's `DEFAULT_PLUGINS` do); a plugin cannot replace a built-in.

Discovery reads package metadata only: `names()` and `has()` import nothing, so `config.yaml` is
validated against what is installed without running any plugin's code. `load()` imports on
first use. Tests add doubles with `registered(...)` inside a fixture, never at import time.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

Kind = Literal["providers", "tools", "adapters", "search"]
KINDS: tuple[Kind, ...] = ("providers", "tools", "adapters", "search")

log = logging.getLogger("heavy.plugins")

BUILTINS: Mapping[Kind, Mapping[str, str]] = {
    "providers": {
        "openai": "heavy_engine.providers._openai:_factory",
        "claude_cli": "heavy_engine.providers._claude_cli:_factory",
        "simulated": "heavy_engine.providers._simulated:_factory",
    },
    "tools": {
        "calculate": "heavy_engine.tools._calculate:Calculate",
        "web_search": "heavy_engine.tools._search:WebSearch",
        "fetch_url": "heavy_engine.tools._fetch:FetchUrl",
        "read_file": "heavy_engine.tools._files:ReadFile",
        "write_file": "heavy_engine.tools._files:WriteFile",
        "list_files": "heavy_engine.tools._files:ListFiles",
        "mark_task_complete": "heavy_engine.tools._complete:MarkTaskComplete",
    },
    "adapters": {},  # the Slack and Discord adapters are entry points of the `heavy` package
    "search": {  # back-ends of `web_search`; duckduckgo needs no key and is the default
        "duckduckgo": "heavy_engine.tools.search._duckduckgo:DuckDuckGo",
        "searxng": "heavy_engine.tools.search._searxng:SearXNG",
        "brave": "heavy_engine.tools.search._brave:Brave",
        "tavily": "heavy_engine.tools.search._tavily:Tavily",
    },
}


def group(kind: Kind) -> str:
    """The entry-point group of `kind`, e.g. `heavy.tools`."""
    return f"heavy.{kind}"


class PluginError(Exception):
    """A plugin could not be imported; the message names it and says why."""


@dataclass(slots=True)
class Plugin:
    """One registered name: where it comes from and how to load it."""

    kind: Kind
    name: str
    value: str  # `module:attr`, or a description for objects registered directly
    source: str  # "builtin", a distribution name, or "registered"
    _obj: Any = field(default=None, repr=False)
    _loaded: bool = field(default=False, repr=False)

    def load(self) -> Any:
        """The factory (imported once); `PluginError` when it cannot be imported."""
        if not self._loaded:
            module, _, attr = self.value.partition(":")
            try:
                obj: Any = importlib.import_module(module)
                for part in filter(None, attr.split(".")):
                    obj = getattr(obj, part)
            except Exception as err:
                raise PluginError(
                    f"{self.kind} plugin {self.name!r} ({self.value}) could not be loaded: "
                    f"{type(err).__name__}: {err}") from err
            self._obj, self._loaded = obj, True
        return self._obj


class PluginRegistry:
    """Names per kind, from `BUILTINS` then entry points (metadata only until `load`)."""

    def __init__(
        self,
        builtins: Mapping[Kind, Mapping[str, str]] = BUILTINS,
        *,
        entry_points: bool = True,
    ) -> None:
        self._plugins: dict[Kind, dict[str, Plugin]] = {k: {} for k in KINDS}
        self._lock = threading.Lock()
        for kind, entries in builtins.items():
            for name, value in entries.items():
                self._plugins[kind][name] = Plugin(kind, name, value, "builtin")
        if entry_points:
            self._discover()

    def _discover(self) -> None:
        for kind in KINDS:
            for ep in entry_points(group=group(kind)):
                dist = ep.dist.name if ep.dist is not None else "?"
                taken = self._plugins[kind].get(ep.name)
                if taken is not None:
                    if taken.value != ep.value:  # the same distribution seen twice is harmless
                        log.warning("%s plugin %r from %s ignored: the name is already "
                                    "registered by %s", kind, ep.name, dist, taken.source)
                    continue
                self._plugins[kind][ep.name] = Plugin(kind, ep.name, ep.value, dist)

    def names(self, kind: Kind) -> list[str]:
        """Every registered name of `kind`, sorted; imports nothing."""
        return sorted(self._plugins[kind])

    def has(self, kind: Kind, name: str) -> bool:
        return name in self._plugins[kind]

    def plugins(self, kind: Kind) -> list[Plugin]:
        """Built-ins first, then the others in discovery order."""
        return list(self._plugins[kind].values())

    def load(self, kind: Kind, name: str) -> Any:
        """The factory registered as `name`; `KeyError` if none, `PluginError` if broken."""
        try:
            plugin = self._plugins[kind][name]
        except KeyError:
            raise KeyError(f"no {kind} plugin named {name!r}") from None
        return plugin.load()

    def register(self, kind: Kind, name: str, obj: Any) -> None:
        """Add `obj` (a factory, see the module docstring) as `name`; `ValueError` if taken."""
        with self._lock:
            if name in self._plugins[kind]:
                raise ValueError(f"a {kind} plugin named {name!r} is already registered")
            self._plugins[kind][name] = Plugin(kind, name, repr(obj), "registered", obj, True)

    def unregister(self, kind: Kind, name: str) -> None:
        """Remove `name` (a no-op when absent)."""
        with self._lock:
            self._plugins[kind].pop(name, None)

    @contextmanager
    def registered(self, kind: Kind, name: str, obj: Any) -> Iterator[None]:
        """`register` for the duration of a `with` block (what test fixtures use)."""
        self.register(kind, name, obj)
        try:
            yield
        finally:
            self.unregister(kind, name)


_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def registry() -> PluginRegistry:
    """The process-wide registry: built-ins plus installed entry points, discovered once."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PluginRegistry()
    return _default


__all__ = [
    "BUILTINS",
    "KINDS",
    "Kind",
    "Plugin",
    "PluginError",
    "PluginRegistry",
    "group",
    "registry",
]
