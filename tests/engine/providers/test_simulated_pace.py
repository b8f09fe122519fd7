"""The simulated model paces itself like a real one, so a first run shows agents at work."""

from __future__ import annotations

import time

import pytest

from heavy_engine import Engine, HeavyConfig, HeavyRequest
from heavy_engine.core._config import SIMULATED_PACE, ProviderConfig, use_simulated
from heavy_engine.core._errors import ConfigError
from heavy_engine.core._events import SynthesisDelta
from heavy_engine.core._types import ChatRequest
from heavy_engine.providers._simulated import SimulatedProvider, pace_from

SIM = ProviderConfig(type="simulated")


@pytest.mark.parametrize(("config", "env", "pace"), [
    (SIM, {}, 0.0),  # nothing set: tests and plugins that name the provider get no waiting
    (ProviderConfig(type="simulated", pace=1.5), {}, 1.5),  # config.yaml's providers.simulated.pace
    (ProviderConfig(type="simulated", pace=1.5), {"HEAVY_SIMULATED_PACE": "0"}, 0.0),  # env wins
    (ProviderConfig(type="simulated", pace=1.5), {"HEAVY_SIMULATED_PACE": " "}, 1.5),  # blank
])
def test_the_pace_comes_from_env_then_config(
    config: ProviderConfig, env: dict[str, str], pace: float
) -> None:
    assert pace_from(config, env) == pace


@pytest.mark.parametrize("raw", ["fast", "-1", "61", "nan"])
def test_a_bad_pace_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="HEAVY_SIMULATED_PACE must be a number of seconds"):
        pace_from(SIM, {"HEAVY_SIMULATED_PACE": raw})


async def test_a_paced_call_takes_half_to_one_and_a_half_times_the_pace() -> None:
    provider = SimulatedProvider("simulated", SIM, delay=0.2)
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "Why?"}],
                          purpose="agent")
    start = time.monotonic()
    await provider.complete(request)
    assert 0.1 <= time.monotonic() - start < 3.0  # 0.1-0.3 s, with room for a busy machine


async def test_a_paced_run_streams_its_synthesis_over_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("HEAVY_SIMULATED_PACE", "0.05")
    config = use_simulated(HeavyConfig(agents=2, tools=["calculate"]))
    async with Engine(config, scratch_root=tmp_path) as engine:  # type: ignore[arg-type]
        run = engine.start(HeavyRequest("Which database holds 12 * 17 rows?", config))
        stamps = [time.monotonic() async for e in run.stream() if isinstance(e, SynthesisDelta)]
        result = await run
    assert result.status == "ok" and result.simulated
    assert result.elapsed_s >= 0.1  # decomposition, calculate, answer, synthesis: all paced
    assert len(stamps) > 10 and stamps[-1] - stamps[0] > 0.05  # words arrive one by one


def test_the_no_key_fallback_is_paced_like_a_real_model() -> None:
    assert use_simulated(HeavyConfig()).providers["simulated"].pace == SIMULATED_PACE == 0.4
    assert pace_from(use_simulated(HeavyConfig()).providers["simulated"], {}) == 0.4


def test_use_simulated_keeps_the_configured_pace() -> None:
    providers = {**HeavyConfig().providers, "simulated": ProviderConfig(type="simulated", pace=0.9)}
    config = HeavyConfig(providers=providers)
    assert use_simulated(config).providers["simulated"].pace == 0.9
