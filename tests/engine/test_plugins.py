"""The one plugin registry: discovery from metadata, built-ins first, lazy loading, doubles."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from heavy_engine import ConfigError, HeavyConfig, ProviderConfig, validate_config
from heavy_engine.plugins import BUILTINS, KINDS, PluginError, PluginRegistry, group, registry
from heavy_engine.providers import ProviderPool, SimulatedProvider, provider_types
from tests.plugin_dist import install_dist

REPO = Path(__file__).resolve().parents[2]

# A provider module that leaves a mark when it is imported: discovery must not import it.
_ACME = """
    import os
    from pathlib import Path

    Path(os.environ["ACME_MARK"]).write_text("imported")

    from heavy_engine.providers import SimulatedProvider

    class AcmeProvider(SimulatedProvider):
        def __init__(self, name, config, env):
            super().__init__(name, config)
"""


def _typed(type_name: str) -> ProviderConfig:
    return ProviderConfig(type="simulated").model_copy(update={"type": type_name})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "site"
    monkeypatch.setenv("ACME_MARK", str(tmp_path / "mark"))
    install_dist(path, "heavy-acme", f"""
        [{group("providers")}]
        acme = acme_provider:AcmeProvider
        broken = acme_missing:Nothing
        simulated = acme_provider:AcmeProvider
    """, {"acme_provider.py": _ACME})
    monkeypatch.syspath_prepend(str(path))
    yield path
    sys.modules.pop("acme_provider", None)


def test_groups_and_builtins() -> None:
    assert [group(k) for k in KINDS] == ["heavy.providers", "heavy.tools", "heavy.adapters",
                                         "heavy.search"]
    assert sorted(BUILTINS["search"]) == ["brave", "duckduckgo", "searxng", "tavily"]
    assert sorted(BUILTINS["providers"]) == ["claude_cli", "openai", "simulated"]
    assert provider_types() == registry().names("providers")
    # the package's own adapters are plugins like any other, from its entry points
    assert {"slack", "discord"} <= set(registry().names("adapters"))


def test_discovery_reads_metadata_and_loads_on_first_use(
    site: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="heavy.plugins"):
        plugins = PluginRegistry()
    assert {"acme", "broken", "simulated"} <= set(plugins.names("providers"))
    assert not (tmp_path / "mark").exists()  # nothing imported yet
    # a plugin cannot replace a built-in
    assert "'simulated' from heavy-acme ignored" in caplog.text
    assert plugins.plugins("providers")[0].source == "builtin"
    pool = ProviderPool({}, registry=plugins)
    # (validated against this registry, not the process one: skip the model's check)
    provider = pool.get("a", _typed("acme"))
    assert type(provider).__name__ == "AcmeProvider"
    assert (tmp_path / "mark").read_text() == "imported"
    assert isinstance(pool.get("s", ProviderConfig(type="simulated")), SimulatedProvider)
    assert type(pool.get("s", ProviderConfig(type="simulated"))) is SimulatedProvider


def test_a_broken_or_unknown_provider_plugin_is_a_config_error_naming_it(site: Path) -> None:
    plugins = PluginRegistry()
    with pytest.raises(PluginError, match=r"providers plugin 'broken' \(acme_missing:Nothing\) "
                                          r"could not be loaded: ModuleNotFoundError"):
        plugins.load("providers", "broken")
    with pytest.raises(ConfigError, match=r"^providers.b.type: providers plugin 'broken'"):
        ProviderPool({}, registry=plugins).get("b", _typed("broken"))
    with pytest.raises(KeyError, match="no providers plugin named 'nope'"):
        plugins.load("providers", "nope")


def test_config_validation_imports_no_provider(site: Path, tmp_path: Path) -> None:
    # A fresh process, as an operator runs `heavy config` or `heavy serve`.
    code = (
        "import sys\n"
        "from heavy_engine import HeavyConfig, ConfigError, validate_config\n"
        "HeavyConfig(providers={'x': {'type': 'acme'}}, provider='x')\n"
        "assert 'acme_provider' not in sys.modules\n"
        "try:\n"
        "    validate_config({'providers': {'x': {'type': 'acme2'}}, 'provider': 'x'})\n"
        "except ConfigError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": f"{REPO}:{site}", "ACME_MARK": str(tmp_path / "mark"), "PATH": ""},
        check=False)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "mark").exists()
    assert "providers.x.type: unknown provider type 'acme2' (known: acme, broken, " in done.stdout


def test_a_double_registered_in_a_fixture_is_gone_afterwards() -> None:
    plugins = PluginRegistry(entry_points=False)
    with plugins.registered("providers", "double", lambda n, c, e: SimulatedProvider(n, c)):
        assert plugins.has("providers", "double")
        with pytest.raises(ValueError, match="already registered"):
            plugins.register("providers", "double", object())
    assert not plugins.has("providers", "double")
    with pytest.raises(ValueError, match="already registered"):
        plugins.register("tools", "calculate", object())  # built-ins cannot be replaced


def test_the_process_registry_validates_config_types() -> None:
    with pytest.raises(ConfigError, match="unknown provider type 'test-double'"):
        validate_config({"providers": {"x": {"type": "test-double"}}, "provider": "x"})
    with registry().registered("providers", "test-double", lambda n, c, e: SimulatedProvider(n, c)):
        config = HeavyConfig.model_validate(
            {"providers": {"x": {"type": "test-double"}}, "provider": "x"})
        assert config.providers["x"].type == "test-double"
    assert "test-double" not in provider_types()
