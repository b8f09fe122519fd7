"""Starting the chat adapters registered as `heavy.adapters` plugins (see `heavy_engine.plugins`)."""

from __future__ import annotations

import logging

from ..core import ConfigError
from ..jobs import Adapter, AdapterFactory, Services
from ..plugins import PluginError, PluginRegistry, registry

log = logging.getLogger("heavy.serve")


def load_adapters(services: Services, plugins: PluginRegistry | None = None) -> list[Adapter]:
    """Every adapter whose credentials are set. One that cannot be imported is logged and
    skipped (the others still run); one whose factory raises stops the service."""
    adapters: list[Adapter] = []
    for plugin in (plugins or registry()).plugins("adapters"):
        name = plugin.name
        try:
            factory: AdapterFactory = plugin.load()
        except PluginError as err:
            cause = err.__cause__ or err
            log.error("adapter %s could not be imported (%s: %s); running without it",
                      name, type(cause).__name__, cause)
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
