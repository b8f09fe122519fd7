"""Adapter discovery through `heavy.adapters` plugins; broken ones logged or fatal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig
from heavy_engine.jobs import Services
from heavy_engine.plugins import PluginRegistry, group
from heavy_engine.service import load_adapters
from tests.plugin_dist import install_dist

_MODULE = """
    class _Adapter:
        name = "fine"

        def routes(self):
            return []

        async def start(self): ...

        async def stop(self): ...

    def fine(services):
        return _Adapter()

    def absent(services):
        return None

    def broken(services):
        raise ValueError("bad SLACK_BOT_TOKEN")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path where a test installs its plugin distribution."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path


def _services() -> Services:
    return Services(HeavyConfig(), engine=None, runner=None, settings=None,  # type: ignore[arg-type]
                    env={})


def _registry(site: Path, *entries: str) -> PluginRegistry:
    install_dist(site, "acme-chat", f"[{group('adapters')}]\n" + "\n".join(entries) + "\n",
                 {"acme_chat.py": _MODULE})
    return PluginRegistry({})


def test_adapters_without_credentials_or_that_fail_to_import_are_skipped(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heavy.serve")
    plugins = _registry(site, "fine = acme_chat:fine", "absent = acme_chat:absent",
                        "gone = no_such_module_xyz:create_adapter")
    found = load_adapters(_services(), plugins)
    assert [a.name for a in found] == ["fine"]
    assert "adapter gone could not be imported (ModuleNotFoundError" in caplog.text
    assert "adapter absent: credentials not set" in caplog.text


def test_an_adapter_whose_factory_raises_stops_the_service(site: Path) -> None:
    with pytest.raises(ConfigError, match="adapter broken: ValueError: bad SLACK_BOT_TOKEN"):
        load_adapters(_services(), _registry(site, "broken = acme_chat:broken"))


def test_an_adapter_registered_in_a_fixture_is_started(site: Path) -> None:
    plugins = PluginRegistry({}, entry_points=False)

    class Recorder:
        name = "rec"

        def __init__(self, services: Services) -> None:
            self.services = services

        def routes(self) -> list[Any]:
            return []

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

    services = _services()
    with plugins.registered("adapters", "rec", Recorder):
        (adapter,) = load_adapters(services, plugins)
    assert isinstance(adapter, Recorder) and adapter.services is services
    assert load_adapters(services, plugins) == []  # gone with the `with` block
