"""`command_problem`: the shape check a command interaction passes before discord.py parses it."""

from __future__ import annotations

from typing import Any

import pytest

from bots.discord._guard import command_problem

Q = {"name": "question", "type": 3, "value": "q"}


@pytest.mark.parametrize(("data", "ok"), [
    ({"name": "heavy", "type": 1, "options": [Q]}, True),  # /heavy question:q
    ({"name": "heavy", "options": [Q, {"name": "agents", "type": 4, "value": 3}]}, True),
    ({"name": "heavy-config", "type": 1, "options": [{"name": "set", "type": 1, "options": [
        {"name": "temperature", "type": 10, "value": 0.5}]}]}, True),  # a subcommand
    ({"name": "heavy", "options": [{"name": "model", "type": 3, "value": "fa",
                                    "focused": True}]}, True),  # autocomplete
    ({"name": "heavy", "options": [{"name": "agents", "type": 4, "value": "4",
                                    "focused": True}]}, True),  # typed so far: a string
    (None, False),  # no data
    ({}, False),  # no name
    ({"name": "heavy", "options": "question"}, False),  # options not a list
    ({"name": "heavy", "options": [5]}, False),  # an option that is not an object
    ({"name": "heavy", "options": [{"name": "question", "type": 3, "value": 5}]}, False),
    ({"name": "heavy", "options": [{"name": "agents", "type": 4, "value": True}]}, False),
    ({"name": "heavy", "options": [{"name": "agents", "type": 4, "value": 10**30}]}, False),
    ({"name": "heavy", "options": [{"name": "x", "type": 99, "value": 1}]}, False),
    ({"name": "c", "options": [{"name": "g", "type": 2, "options": [{"name": "s", "type": 1,
      "options": [{"name": "d", "type": 1, "options": []}]}]}]}, False),  # nested too deep
])
def test_command_problem(data: Any, ok: bool) -> None:
    assert (command_problem(data) is None) is ok
