"""The /heavy-config modal: building it, reading a submission, deciding what changed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.slack._commands import _parse_config_args
from bots.slack._modal import (
    ModalTarget,
    agent_models_text,
    changes,
    config_modal,
    show_text,
    submitted_values,
)
from heavy_engine import HeavyConfig

TARGET = ModalTarget("T1", "C1", 3, "C1")


def _blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def test_models_come_from_the_operators_list() -> None:
    config = HeavyConfig(allowed_models=["a/one", "b/two"], model="a/one")
    view = config_modal(config, {"model": "a/one", "agents": 4}, TARGET, ["calculate"], "here")
    model = _blocks(view)["model"]["element"]
    assert model["type"] == "static_select"
    assert [o["value"] for o in model["options"]] == ["a/one", "b/two"]
    assert model["initial_option"]["value"] == "a/one"
    assert ModalTarget.load(view["private_metadata"]) == TARGET
    assert len(json.dumps(view)) < 250_000  # Slack's view size limit


def test_without_a_list_the_model_is_free_text() -> None:
    view = config_modal(HeavyConfig(), {"model": "x/y"}, TARGET, [], "here")
    assert _blocks(view)["model"]["element"] == {
        "action_id": "model", "type": "plain_text_input", "initial_value": "x/y"}


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({}, ""),  # no per-agent models
        ({"agent.1.model": "a"}, "a"),
        ({"agent.3.model": "c"}, "\n\nc"),  # agents 1-2 use the default
    ],
)
def test_agent_models_text(values: dict[str, Any], text: str) -> None:
    assert agent_models_text(values) == text


def test_submitted_values() -> None:
    state = {
        "model": {"model": {"type": "plain_text_input", "value": " m/x "}},
        "agents": {"agents": {"type": "number_input", "value": "5"}},
        "agent_models": {"agent_models": {"type": "plain_text_input", "value": "a\n\nc"}},
        "system_prompt": {"system_prompt": {"type": "plain_text_input", "value": "  "}},
        "tools": {"tools": {"type": "multi_static_select", "selected_options": []}},
        "thread_policy": {"thread_policy": {"selected_option": {"value": "follow"}}},
    }
    values = submitted_values(state)
    assert values["model"] == "m/x" and values["agents"] == 5
    assert values["system_prompt"] is None and values["tools"] == []
    assert values["thread_policy"] == "follow"
    assert (values["agent.1.model"], values["agent.2.model"], values["agent.3.model"]) == (
        "a", None, "c")


@pytest.mark.parametrize(
    ("current", "submitted", "to_set", "to_unset"),
    [
        # Unchanged values are not stored at this scope (they keep inheriting).
        ({"agents": 4}, {"agents": 4}, {}, []),
        # A changed value is set.
        ({"agents": 4}, {"agents": 6}, {"agents": 6}, []),
        # A cleared field is unset.
        ({"system_prompt": "be brief"}, {"system_prompt": None}, {}, ["system_prompt"]),
        # Clearing what was never set changes nothing.
        ({"system_prompt": None}, {"system_prompt": None}, {}, []),
        # Tool order carries no meaning.
        ({"tools": ["a", "b"]}, {"tools": ["b", "a"]}, {}, []),
        # Unticking every tool is a change.
        ({"tools": ["a"]}, {"tools": []}, {"tools": []}, []),
    ],
)
def test_changes(current: dict[str, Any], submitted: dict[str, Any], to_set: dict[str, Any],
                 to_unset: list[str]) -> None:
    assert changes(current, submitted) == (to_set, to_unset)


def test_show_text_names_each_source() -> None:
    text = show_text({"model": "m", "tools": ["a", "b"], "system_prompt": None},
                     {"model": "channel"}, "<#C1>")
    assert "`model` = m  _(channel)_" in text
    assert "`tools` = a, b  _(default)_" in text
    assert "`system_prompt` = -" in text


def test_the_channel_is_a_link_in_the_modal_and_in_show() -> None:
    # `where` is heavy's own mrkdwn: escaped, Slack would show `<#C1>` as literal text.
    view = config_modal(HeavyConfig(), {}, TARGET, [], "Editing <#C1>.")
    assert view["blocks"][0]["elements"][0]["text"] == "Editing <#C1>."
    assert show_text({}, {}, "<#C1>") == "*heavy settings for <#C1>*"


_EVERY_AGENT = {f"agent.{i}.{k}": v for i in range(1, 17)
                for k, v in (("model", "m/" + "x" * 190), ("system_prompt", "p" * 8000))}


@pytest.mark.parametrize(
    ("values", "longest_line", "cut"),
    [
        # The channel prompt is shortened (as before).
        ({"system_prompt": "p" * 8000}, 260, False),
        # So is every agent's prompt: each may hold 8,000 characters.
        ({"model": "m", "agent.3.system_prompt": "p" * 8000}, 260, False),
        # Every agent with a model and a long prompt: the text stops below Slack's limit and
        # says where the rest is.
        ({"model": "m", **_EVERY_AGENT}, 260, True),
    ],
)
def test_show_text_fits_one_message(values: dict[str, Any], longest_line: int,
                                    cut: bool) -> None:
    text = show_text(values, {}, "<#C1>")
    assert len(text) <= 3900
    assert max(len(line) for line in text.splitlines()) <= longest_line
    assert ("heavy config show" in text.splitlines()[-1]) is cut


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", ("edit", False)),  # the modal for this channel
        ("workspace", ("edit", True)),  # the modal for the workspace default
        ("show", ("show", False)),
        ("reset workspace", ("reset", True)),
        ("SHOW", ("show", False)),
        ("model=x", None),  # not a verb we know: usage
    ],
)
def test_parse_config_args(text: str, parsed: tuple[str, bool] | None) -> None:
    assert _parse_config_args(text) == parsed
