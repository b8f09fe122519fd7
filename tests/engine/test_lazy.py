"""`heavy_engine.lazy.exports`: a package's names loaded on first use (PEP 562)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bots.slack.native
import heavy_engine
import heavy_engine.jobs


def test_a_name_loads_once_and_stays_in_the_package() -> None:
    engine = heavy_engine.Engine
    assert vars(heavy_engine)["Engine"] is engine  # stored: __getattr__ is not asked again
    assert "Engine" in dir(heavy_engine) and "DistributedRunner" in dir(heavy_engine.jobs)


def test_a_renamed_export_reads_module_colon_attribute() -> None:
    from bots.slack.native import _home

    assert bots.slack.native.republish_home is _home.republish


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    with pytest.raises(AttributeError, match=r"module 'heavy_engine\.jobs' has no attribute 'Nope'"):
        heavy_engine.jobs.Nope  # noqa: B018


def test_importing_the_package_loads_none_of_the_lazy_modules() -> None:
    code = ("import sys, heavy_engine, heavy_engine.core; "
            "print(sorted(m for m in sys.modules if m.startswith('heavy_engine.core.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
