"""Resolution order: config.yaml, then workspace, then channel, then request flags."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import AgentOverride, HeavyConfig
from heavy_engine.jobs import JobSpec
from heavy_engine.settings import Scope, SettingsRefused, SettingsStore, layer

from .conftest import TOOLS, operator_config

WS: dict[str, Any] = {"agents": 3, "model": "a/large", "timeout": 120.0}
CH: dict[str, Any] = {"agents": 5, "tools": ["web_search"]}
FLAGS: dict[str, Any] = {"agents": "2"}


@pytest.mark.parametrize(("ws", "ch", "flags", "key", "value", "source"), [
    ({}, {}, {}, "agents", 4, "default"),  # nothing stored: config.yaml
    (WS, {}, {}, "agents", 3, "workspace"),  # the workspace default applies to every channel
    ({}, CH, {}, "agents", 5, "channel"),  # a channel without a workspace default
    (WS, CH, {}, "agents", 5, "channel"),  # channel beats workspace
    (WS, CH, FLAGS, "agents", 2, "request"),  # a request flag beats everything
    ({}, {}, FLAGS, "agents", 2, "request"),  # flags alone, strings coerced
    (WS, CH, {}, "model", "a/large", "workspace"),  # keys layer one by one
    (WS, CH, {}, "tools", ["web_search"], "channel"),  # lists replace, not merge
    (WS, {}, {}, "timeout", 120.0, "workspace"),  # timeout is timeouts.request
    (WS, CH, FLAGS, "temperature", 0.7, "default"),  # untouched keys stay default
    ({"agent.1.model": "b/fast"}, {"agent.1.model": "a/large"}, {}, "agent.1.model",
     "a/large", "channel"),  # per-agent keys layer like the others
    ({"orchestrator_model": "b/fast"}, {}, {"orchestrator_model": None}, "orchestrator_model",
     None, "request"),  # None means "same as model", never refused as an unlisted model
])
def test_resolution_order(
    ws: dict[str, Any], ch: dict[str, Any], flags: dict[str, Any], key: str, value: Any,
    source: str,
) -> None:
    resolved = layer(operator_config(), ws, ch, flags, known_tools=TOOLS)
    assert resolved.values[key] == value
    assert resolved.sources[key] == source
    assert resolved.sources.keys() == resolved.values.keys()


def test_layers_land_in_the_config() -> None:
    resolved = layer(operator_config(), WS, CH, {"agent.2.system_prompt": "be brief"},
                     known_tools=TOOLS)
    config = resolved.config
    assert (config.agents, config.model, config.tools) == (5, "a/large", ["web_search"])
    assert config.timeouts.request == 120.0
    assert config.agent_overrides[1].system_prompt == "be brief"


def test_operator_agent_overrides_show_as_default() -> None:
    base = operator_config().with_overrides(
        {"agent_overrides": [AgentOverride(model="b/fast").model_dump()]})
    resolved = layer(base, {}, {}, {})
    assert resolved.values["agent.1.model"] == "b/fast"
    assert resolved.sources["agent.1.model"] == "default"


def test_a_bad_request_flag_is_refused() -> None:
    with pytest.raises(SettingsRefused, match="allowed models: a/small"):
        layer(operator_config(), {}, {}, {"model": "z/unlisted"})


def test_stored_values_the_operator_no_longer_allows_are_skipped() -> None:
    stricter = HeavyConfig(model="a/small", allowed_models=["a/small"])
    resolved = layer(stricter, {"model": "a/large", "agents": 2}, {}, {}, known_tools=TOOLS)
    assert (resolved.values["model"], resolved.sources["model"]) == ("a/small", "default")
    assert resolved.values["agents"] == 2


async def test_store_resolves_workspace_channel_and_thread(store: SettingsStore) -> None:
    await store.set(Scope("slack", "T1"), {"agents": 3, "model": "a/large"}, actor="u")
    await store.set(Scope("slack", "T1", "C1"), {"agents": 5}, actor="u")
    await store.set(Scope("discord", "T1", "C1"), {"agents": 7}, actor="u")

    in_channel = await store.resolve("slack", "T1", "C1")
    assert (in_channel.config.agents, in_channel.config.model) == (5, "a/large")
    assert in_channel.sources["agents"] == "channel"
    other_channel = await store.resolve("slack", "T1", "C2")
    assert (other_channel.config.agents, other_channel.sources["agents"]) == (3, "workspace")
    elsewhere = await store.resolve("slack", "T2", "C1")
    assert (elsewhere.config.agents, elsewhere.sources["agents"]) == (4, "default")
    assert (await store.resolve("api", "", "x")).config.agents == 4  # no stored scope

    # A thread's job carries its channel; the thread id plays no part in resolution.
    spec = JobSpec("slack", "T1", "C1", "U1", "q?", thread="1700000000.0001",
                   flags={"agents": 2})
    assert (await store.resolve_job(spec)).agents == 2
    spec.flags = {}
    assert (await store.resolve_job(spec)).agents == 5
