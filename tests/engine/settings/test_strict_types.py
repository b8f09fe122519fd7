"""Strict types wherever a setting is parsed, and a bounded agent index (issue 10, item 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig, load_config
from heavy_engine.settings import SettingsRefused, normalize_key
from heavy_engine.settings._rules import check_value


@pytest.mark.parametrize(("key", "raw"), [
    ("agents", "true"),  # was taken as 1
    ("agents", True),  # a JSON true
    ("agents", "3.0"),  # not a whole number as written
    ("agents", 3.0),  # a float, even a round one
    ("agents", "0x10"),  # not decimal
    ("max_iterations", False),
    ("temperature", True),  # a bool is no number
    ("temperature", "nan"),  # not a number at all
    ("timeout", "inf"),
    ("timeout", "1" * 5000),  # thousands of digits
    ("model", 42),  # not text
    ("thread_policy", True),
    ("tools", True),  # not a list
    ("tools", [1, 2]),  # not names
])
def test_a_value_of_the_wrong_type_is_refused_by_name(key: str, raw: Any) -> None:
    with pytest.raises(SettingsRefused) as info:
        check_value(HeavyConfig(allowed_models=[]), key, raw, None)
    assert info.value.key == key


@pytest.mark.parametrize(("key", "raw", "typed"), [
    ("agents", "3", 3),  # command-line text
    ("agents", " 12 ", 12),  # with shell whitespace
    ("agents", 5, 5),  # JSON number
    ("temperature", "0.25", 0.25),
    ("temperature", 1, 1.0),  # an int is a fine float
    ("timeout", "1e2", 100.0),
    ("max_iterations", "+4", 4),
    ("model", "some/model", "some/model"),
])
def test_a_value_of_the_right_type_is_accepted(key: str, raw: Any, typed: Any) -> None:
    assert check_value(HeavyConfig(allowed_models=[]), key, raw, None) == (key, typed)


@pytest.mark.parametrize("key", [
    "agent." + "9" * 5000 + ".model",  # was a raw ValueError from int()
    "agent." + "0" * 5000 + "1.model",  # a huge spelling of 1 is refused too
    "agent.100.system_prompt",
])
def test_an_agent_index_out_of_range_is_refused_by_name(key: str) -> None:
    with pytest.raises(SettingsRefused, match="numbered 1 to 16") as info:
        normalize_key(key)
    assert info.value.key == key


@pytest.mark.parametrize(("yaml_text", "where"), [
    ("agents: true\n", "agents"),  # YAML's true is no count
    ("temperature: yes\n", "temperature"),
    ("timeouts:\n  request: '30'\n", "timeouts.request"),  # a quoted number
    ("tool_settings:\n  max_calls_per_turn: 2.0\n", "tool_settings.max_calls_per_turn"),
])
def test_config_yaml_is_strict_too(tmp_path: Path, yaml_text: str, where: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=where):
        load_config(path, env={})
