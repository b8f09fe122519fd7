"""Who may ask: `may_ask` over the levels, and the runner refusing before any LLM call."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine import HeavyConfig
from heavy_engine.attachments import Attachments, Document
from heavy_engine.jobs import JobRejected, may_ask
from heavy_engine.jobs._access import BLOCKED, NOT_ALLOWED
from heavy_engine.testing import FakeLLM

from .conftest import MakeRunner, RecordingDelivery, settle, spec


def _access(operator: dict[str, Any] | None = None, workspace: dict[str, Any] | None = None,
            channel: dict[str, Any] | None = None) -> HeavyConfig:
    return HeavyConfig().with_overrides({"access": {
        **(operator or {}), "workspace": workspace or {}, "channel": channel or {}}})


@pytest.mark.parametrize(("config", "user", "roles", "expected"), [
    # no rules: everyone may ask
    (_access(), "U1", [], None),
    # blocked in the workspace
    (_access(workspace={"block_users": ["U1"]}), "U1", [], BLOCKED),
    # blocked by the operator wins over a channel allow list naming the user
    (_access({"block_users": ["U1"]}, channel={"allow_users": ["U1"]}), "U1", [], BLOCKED),
    # someone else blocked: this user is fine
    (_access(workspace={"block_users": ["U2"]}), "U1", [], None),
    # the channel's allow list names the user
    (_access(channel={"allow_users": ["U1"]}), "U1", [], None),
    # the channel's allow list does not
    (_access(channel={"allow_users": ["U2"]}), "U1", [], NOT_ALLOWED),
    # a listed role lets a user through (Discord)
    (_access(channel={"allow_roles": ["R9"]}), "U1", ["R1", "R9"], None),
    # allow_users and allow_roles together: either one is enough
    (_access(channel={"allow_users": ["U2"], "allow_roles": ["R9"]}), "U1", ["R9"], None),
    # a channel cannot open what the workspace closed
    (_access(workspace={"allow_users": ["U2"]}, channel={"allow_users": ["U1"]}), "U1", [],
     NOT_ALLOWED),
    # both levels allow: through
    (_access(workspace={"allow_roles": ["R1"]}, channel={"allow_users": ["U1"]}), "U1", ["R1"],
     None),
    # platform-prefixed ids in the operator's lists
    (_access({"block_users": ["slack:U1"]}), "U1", [], BLOCKED),
])
def test_may_ask(config: HeavyConfig, user: str, roles: list[str], expected: str | None) -> None:
    assert may_ask(config, user, roles, platform="slack") == expected


def test_a_platform_prefix_applies_to_that_platform_only() -> None:
    config = _access({"block_users": ["discord:U1"]})
    assert may_ask(config, "U1", platform="slack") is None
    assert may_ask(config, "U1", platform="discord") == BLOCKED


async def test_a_refused_asker_costs_no_llm_call(
        make_runner: MakeRunner, config: HeavyConfig, fake: FakeLLM) -> None:
    runner = await make_runner(base=config.with_overrides(
        {"access": {"workspace": {"block_users": ["U666"]}}}))
    with pytest.raises(JobRejected) as caught:
        await runner.submit(spec(user="U666", dedup_key="ev-1"))
    assert caught.value.reason == "not_allowed" and str(caught.value) == BLOCKED
    assert await runner.submit(spec(user="U666", dedup_key="ev-1")) is None  # a retry: dropped
    await settle(runner)
    assert fake.requests == []
    ok = await runner.submit(spec(user="U1"))
    assert ok is not None
    await settle(runner)
    assert fake.requests


async def test_roles_reach_the_check(make_runner: MakeRunner, config: HeavyConfig) -> None:
    runner = await make_runner(base=config.with_overrides(
        {"access": {"channel": {"allow_roles": ["R1"]}}}))
    with pytest.raises(JobRejected, match="only people or roles"):
        await runner.submit(spec(platform="discord", roles=["R2"]))
    assert await runner.submit(spec(platform="discord", roles=["R1"]))
    await settle(runner)


async def test_per_user_daily_token_budget(make_runner: MakeRunner) -> None:
    runner = await make_runner(limits={"daily_tokens_per_user": 1})
    assert await runner.submit(spec(user="U1", channel="C1"))
    await settle(runner)
    with pytest.raises(JobRejected, match="You have used your daily budget of 1 tokens") as c:
        await runner.submit(spec(user="U1", channel="C2", workspace="T2"))  # any workspace
    assert c.value.reason == "budget"
    assert await runner.submit(spec(user="U2", channel="C1"))  # others have their own
    await settle(runner)


async def test_attachments_are_stored_with_the_job_and_reach_the_run(
        make_runner: MakeRunner, fake: FakeLLM) -> None:
    runner = await make_runner()
    delivery = RecordingDelivery()
    runner.register_delivery("slack", delivery)
    files = Attachments(documents=[Document("plan.md", "text", "Launch on Monday.")],
                        notes=["skipped data.bin: unsupported type"])
    job = await runner.submit(spec(attachments=files.as_dict()))
    assert job is not None
    await settle(runner)
    stored = await runner.store.get(job.id)
    assert stored is not None and stored.spec.attachments == files.as_dict()
    assert stored.result is not None
    assert stored.result.notes == ["skipped data.bin: unsupported type"]
    agent_calls = fake.calls("agent")
    assert agent_calls and all("Launch on Monday." in str(c.body) for c in agent_calls)

