"""Adapter discovery: entry points plus `$HEAVY_ADAPTERS`; broken ones logged or fatal."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig
from heavy_engine.runtime import Services
from heavy_engine.runtime._adapters import load_adapters


class _Adapter:
    name = "fine"

    def routes(self) -> list[Any]:
        return []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@pytest.fixture
def plugins() -> Iterator[types.ModuleType]:
    module = types.ModuleType("heavy_test_plugins")
    module.fine = lambda services: _Adapter()  # type: ignore[attr-defined]
    module.absent = lambda services: None  # type: ignore[attr-defined]

    def broken(services: Services) -> None:
        raise ValueError("bad SLACK_BOT_TOKEN")

    module.broken = broken  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def _services(adapters: str) -> Services:
    return Services(HeavyConfig(), engine=None, runner=None, settings=None,  # type: ignore[arg-type]
                    env={"HEAVY_ADAPTERS": adapters})


def test_adapters_without_credentials_or_that_fail_to_import_are_skipped(
    plugins: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heavy.serve")
    found = load_adapters(_services(
        "heavy_test_plugins:fine, heavy_test_plugins:absent, no_such_module_xyz"))
    names = [a.name for a in found]
    assert names.count("fine") == 1
    assert "adapter no_such_module_xyz could not be imported (ModuleNotFoundError" in caplog.text
    assert "adapter heavy_test_plugins:absent: credentials not set" in caplog.text


def test_an_adapter_whose_factory_raises_stops_the_service(plugins: types.ModuleType) -> None:
    with pytest.raises(ConfigError, match="adapter heavy_test_plugins:broken: ValueError"):
        load_adapters(_services("heavy_test_plugins:broken"))
