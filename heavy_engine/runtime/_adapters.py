"""Finding the chat adapters: the `heavy.adapters` entry points, plus `$HEAVY_ADAPTERS`.

`HEAVY_ADAPTERS` takes extra factories as `module:function` separated by commas (plugins that
are not packaged, and the test suite's recording adapter).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from .._errors import ConfigError
from ._contract import Adapter, AdapterFactory, Services

log = logging.getLogger("heavy.serve")
GROUP = "heavy.adapters"


def _factories(env: Mapping[str, str]) -> list[tuple[str, Any]]:
    """(name, loader) pairs; a loader returns the factory or raises while importing it."""
    found: list[tuple[str, Any]] = [(ep.name, ep.load) for ep in entry_points(group=GROUP)]
    for spec in filter(None, (s.strip() for s in env.get("HEAVY_ADAPTERS", "").split(","))):
        module, _, attr = spec.partition(":")

        def load(module: str = module, attr: str = attr or "create_adapter") -> Any:
            return getattr(importlib.import_module(module), attr)

        found.append((spec, load))
    return found


def load_adapters(services: Services) -> list[Adapter]:
    """Every adapter whose credentials are set. One that cannot be imported is logged and
    skipped (the others still run); one whose factory raises stops the service."""
    adapters: list[Adapter] = []
    for name, loader in _factories(services.env):
        try:
            factory: AdapterFactory = loader()
        except Exception as err:
            log.error("adapter %s could not be imported (%s: %s); running without it",
                      name, type(err).__name__, err)
            continue
        try:
            adapter = factory(services)
        except ConfigError:
            raise
        except Exception as err:
            raise ConfigError(f"adapter {name}: {type(err).__name__}: {err}") from err
        if adapter is None:
            log.info("adapter %s: credentials not set, not started", name)
            continue
        log.info("adapter %s enabled", name)
        adapters.append(adapter)
    return adapters
