"""The orchestrator end to end over real HTTP against the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from heavy_engine import (
    AgentFinished,
    AgentStarted,
    ChatRequest,
    Completion,
    Done,
    Engine,
    HeavyConfig,
    HeavyRequest,
    QuestionsReady,
    RequestRejected,
    SynthesisDelta,
    ToolCalled,
    ToolFinished,
    plugins,
    use_simulated,
)
from heavy_engine.plugins import PluginRegistry
from heavy_engine.providers import SimulatedProvider
from heavy_engine.testing import (
    FakeLLM,
    error_reply,
    fake_config,
    hang_reply,
    slow_reply,
    text_reply,
    tool_call_reply,
)
from heavy_engine.tools import Tool, ToolContext, ToolRegistry, default_registry


class _LookupParams(BaseModel):
    key: str = "default"
    delay: float = 0.0


class Lookup(Tool):
    """A harmless tool the fake model can call; records concurrency."""

    name = "lookup"
    description = "Look a key up."
    Params = _LookupParams

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0

    async def run(self, params: _LookupParams, ctx: ToolContext) -> str:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(params.delay)
        finally:
            self.running -= 1
        return f"value-of-{params.key}"


@pytest.fixture
def lookup() -> Lookup:
    return Lookup()


@pytest.fixture
async def engine(fake_llm: FakeLLM, lookup: Lookup, tmp_path: Any) -> Any:
    tools = default_registry(PluginRegistry(entry_points=False))
    tools.register(lookup)
    async with Engine(fake_config(fake_llm.base_url), tools=tools, scratch_root=tmp_path) as eng:
        yield eng


def config_for(fake: FakeLLM, **overrides: Any) -> Any:
    base: dict[str, Any] = {"tools": ["lookup"], "timeouts": {"request": 10}}
    base.update(overrides)
    return fake_config(fake.base_url, **base)


async def ask(engine: Engine, fake: FakeLLM, question: str = "Which database?", **overrides: Any):
    run = engine.start(HeavyRequest(question, config_for(fake, **overrides)))
    events = [e async for e in run.stream()]
    return await run, events


async def test_four_agents_take_exactly_ten_calls(engine: Engine, fake_llm: FakeLLM) -> None:
    result, events = await ask(engine, fake_llm)
    assert result.status == "ok", result.error
    assert len(fake_llm.calls()) == result.llm_calls == 10
    assert [len(fake_llm.calls(p)) for p in ("decompose", "agent", "synthesis")] == [1, 8, 1]
    assert [a.status for a in result.agents] == ["ok"] * 4
    assert all(a.iterations == 2 for a in result.agents)
    assert events[0].type == "accepted" and isinstance(events[-1], Done)
    assert sum(isinstance(e, ToolCalled) for e in events) == 4
    # the synthesis streams: several deltas that add up to the answer
    deltas = [e.text for e in events if isinstance(e, SynthesisDelta)]
    assert len(deltas) > 1 and "".join(deltas).strip() == result.answer
    # real usage from the provider, summed over all ten calls
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage.cost_usd > 0
    assert sum(a.usage.prompt_tokens for a in result.agents) < result.usage.prompt_tokens
    assert not result.simulated


async def test_decomposition_asks_for_json_and_agents_get_sub_questions(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    _, events = await ask(engine, fake_llm, agents=3)
    decompose = fake_llm.calls("decompose")[0].body
    assert decompose is not None and decompose["response_format"] == {"type": "json_object"}
    assert "exactly 3" in decompose["messages"][0]["content"]
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert len(ready.questions) == 3 and not ready.fallback
    asked = {json.dumps(c.body) for c in fake_llm.calls("agent")}
    assert all(any(q in a for a in asked) for q in ready.questions)


@pytest.mark.parametrize(
    "reply",
    [
        "I can't produce JSON today.",  # prose
        '{"questions": ["Is it the same?", "is it the same", "IS IT THE SAME?!"]}',  # repeats
        '{"questions": ["1.1", "2.0", "3.0", "4.0"]}',  # section numbers, not questions
        '{"questions": ',  # truncated JSON
    ],
)
async def test_malformed_decomposition_falls_back(
    engine: Engine, fake_llm: FakeLLM, reply: str
) -> None:
    fake_llm.enqueue(text_reply(reply), when="decompose")
    result, events = await ask(engine, fake_llm)
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert ready.fallback and len(ready.questions) == 4 == len(set(ready.questions))
    assert result.status == "ok" and len(fake_llm.calls()) == 10


async def test_unusable_sub_questions_are_dropped_and_replaced_by_angles(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    # What a small model served by llama.cpp answered: a keyword, a section number, two real ones.
    reply = {"questions": ["PostgreSQL", "1.1", "How does PostgreSQL scale writes?",
                           "How does MySQL scale writes?"]}
    fake_llm.enqueue(text_reply(json.dumps(reply)), when="decompose")
    result, events = await ask(engine, fake_llm)
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert ready.fallback and len(ready.questions) == 4
    assert ready.questions[:2] == ("How does PostgreSQL scale writes?",
                                   "How does MySQL scale writes?")
    assert all("Which database?" in angle for angle in ready.questions[2:])  # new angles
    assert any("2 of the model's 4 sub-questions were not usable questions ('PostgreSQL', '1.1'"
               in note for note in result.notes)


async def test_one_agent_skips_decomposition_and_synthesis(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    result, _ = await ask(engine, fake_llm, agents=1)
    assert result.status == "ok" and result.questions == ["Which database?"]
    assert [len(fake_llm.calls(p)) for p in ("decompose", "agent", "synthesis")] == [0, 2, 0]


async def test_failed_agent_is_left_out_and_said(engine: Engine, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(400, "context too long"), when="agent")
    result, events = await ask(engine, fake_llm)
    statuses = sorted(a.status for a in result.agents)
    assert statuses == ["failed", "ok", "ok", "ok"]
    failed = next(a for a in result.agents if a.status == "failed")
    assert "context too long" in (failed.error or "")
    assert result.status == "ok" and result.answer
    assert any("1 of 4 agents did not finish" in n for n in result.notes)
    synthesis = fake_llm.calls("synthesis")[0].body
    assert synthesis is not None and "did not finish" in synthesis["messages"][-1]["content"]
    assert sum(isinstance(e, AgentFinished) for e in events) == 4


async def test_all_agents_failing_fails_the_run_without_synthesis(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(*[error_reply(400, "bad request")] * 2, when="agent")
    result, _ = await ask(engine, fake_llm, agents=2)
    assert result.status == "failed" and "All 2 agents failed" in (result.error or "")
    assert fake_llm.calls("synthesis") == []


async def test_agent_timeout_keeps_the_others(engine: Engine, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(hang_reply(), when="agent")
    result, _ = await ask(engine, fake_llm, timeouts={"request": 10, "agent": 0.5})
    assert sorted(a.status for a in result.agents) == ["ok", "ok", "ok", "timeout"]
    assert result.status == "ok" and any("timeout" in n for n in result.notes)
    await asyncio.sleep(0.05)
    assert any(r.cancelled for r in fake_llm.calls("agent"))  # the hung HTTP call was dropped


async def test_request_deadline_stops_everything(engine: Engine, fake_llm: FakeLLM) -> None:
    loop = asyncio.get_running_loop()
    fake_llm.enqueue(*[slow_reply(5.0)] * 4, when="agent")
    started = loop.time()
    result, _ = await ask(engine, fake_llm, timeouts={"request": 0.6, "llm_call": 30})
    deadline = started + 0.6
    assert result.status == "timeout" and "ran out of time" in (result.error or "")
    assert result.models == ["fake/model"]  # known even though no agent finished
    assert loop.time() - started < 2.0
    assert all(a.status == "timeout" for a in result.agents)
    count = len(fake_llm.calls())
    await asyncio.sleep(0.3)
    assert len(fake_llm.calls()) == count  # nothing starts after the deadline...
    assert all(r.started <= deadline + 0.05 for r in fake_llm.calls())
    assert all(r.cancelled for r in fake_llm.calls("agent"))  # ...and running calls were cut


async def test_cancel_by_id(engine: Engine, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(*[hang_reply()] * 4, when="agent")
    run = engine.start(HeavyRequest("Cancel me", config_for(fake_llm)))
    async for event in run.stream():
        if isinstance(event, AgentStarted):
            break
    assert engine.cancel(run.id)
    result = await run
    assert result.status == "cancelled"
    assert engine.get(run.id) is None and not engine.cancel(run.id)
    count = len(fake_llm.calls())
    await asyncio.sleep(0.2)
    assert len(fake_llm.calls()) == count


async def test_tool_calls_of_one_turn_run_concurrently(
    engine: Engine, fake_llm: FakeLLM, lookup: Lookup
) -> None:
    fake_llm.enqueue(
        tool_call_reply(("lookup", {"key": "a", "delay": 0.2}), ("lookup", {"key": "b", "delay": 0.2})),
        text_reply("done with both"),
        when="agent",
    )
    result, events = await ask(engine, fake_llm, agents=1)
    assert result.answer == "done with both" and lookup.max_running == 2
    kinds = [type(e) for e in events if isinstance(e, ToolCalled | ToolFinished)]
    assert kinds == [ToolCalled, ToolCalled, ToolFinished, ToolFinished]
    tool_msgs = [m for m in fake_llm.calls("agent")[1].body["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_msgs] == ["value-of-a", "value-of-b"]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (("lookup", '{"delay": "soon"}'), "error: invalid arguments for lookup"),  # bad types
        (("lookup", "not json"), "error: invalid arguments for lookup"),  # not JSON
        (("no_such_tool", "{}"), "error: there is no tool named 'no_such_tool'"),  # unknown tool
    ],
)
async def test_tool_errors_go_back_to_the_model(
    engine: Engine, fake_llm: FakeLLM, call: tuple[str, str], expected: str
) -> None:
    fake_llm.enqueue(tool_call_reply(call), text_reply("recovered"), when="agent")
    result, _ = await ask(engine, fake_llm, agents=1)
    assert result.answer == "recovered"
    tool_msg = fake_llm.calls("agent")[1].body["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["content"].startswith(expected)


async def test_max_iterations_withholds_tools_on_the_last_turn(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(*[tool_call_reply(("lookup", {}))] * 2, when="agent")
    result, _ = await ask(engine, fake_llm, agents=1, max_iterations=3)
    bodies = [c.body for c in fake_llm.calls("agent")]
    assert len(bodies) == 3 and "tools" in bodies[0] and "tools" not in bodies[2]
    assert result.status == "ok" and result.agents[0].iterations == 3


async def test_mark_task_complete_ends_the_loop(engine: Engine, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(
        tool_call_reply(("mark_task_complete", {"summary": "final words"})), when="agent"
    )
    result, _ = await ask(engine, fake_llm, agents=1, tools=["lookup", "mark_task_complete"])
    assert result.answer == "final words" and len(fake_llm.calls()) == 1


async def test_no_tools_key_and_no_null_tool_calls(engine: Engine, fake_llm: FakeLLM) -> None:
    await ask(engine, fake_llm, tools=[])
    for call in fake_llm.calls():
        assert call.body is not None and "tools" not in call.body
        for message in call.body["messages"]:
            assert "tool_calls" not in message or message["tool_calls"]


async def test_per_agent_overrides(engine: Engine, fake_llm: FakeLLM) -> None:
    overrides = [{}, {"model": "fake/other", "system_prompt": "You are a sceptic."}]
    await ask(engine, fake_llm, agents=2, agent_overrides=overrides,
              orchestrator_model="fake/orchestrator")
    models = sorted({c.body["model"] for c in fake_llm.calls("agent")})
    assert models == ["fake/model", "fake/other"]
    assert fake_llm.calls("decompose")[0].body["model"] == "fake/orchestrator"
    sceptic = [c for c in fake_llm.calls("agent") if c.body["model"] == "fake/other"]
    # the agent's own instructions follow the shared prefix, in its first user message
    assert all("You are a sceptic." in c.body["messages"][1]["content"] for c in sceptic)
    assert all("You are a sceptic." not in c.body["messages"][0]["content"] for c in sceptic)


async def test_synthesis_failure_falls_back_to_findings(engine: Engine, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(400, "synthesis refused"), when="synthesis")
    result, _ = await ask(engine, fake_llm, agents=2)
    assert result.status == "ok" and "## Agent 1" in result.answer
    assert any("synthesis step failed" in n for n in result.notes)


async def test_context_reaches_every_step(engine: Engine, fake_llm: FakeLLM) -> None:
    run = engine.start(HeavyRequest("And the costs?", config_for(fake_llm, agents=2),
                                    context="Earlier: we chose PostgreSQL."))
    await run
    for call in fake_llm.calls():
        assert "Earlier: we chose PostgreSQL." in json.dumps(call.body)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("   ", "The question is empty"),  # blank
        ("x" * 9000, "the limit is 8000"),  # too long
    ],
)
async def test_bad_questions_are_rejected(
    engine: Engine, fake_llm: FakeLLM, question: str, message: str
) -> None:
    with pytest.raises(RequestRejected, match=message):
        engine.start(HeavyRequest(question, config_for(fake_llm)))
    assert fake_llm.calls() == []


async def test_requests_share_one_provider_instance(engine: Engine, fake_llm: FakeLLM) -> None:
    results = await asyncio.gather(*(engine.run(HeavyRequest(f"q{i}", config_for(fake_llm)))
                                     for i in range(3)))
    assert all(r.status == "ok" for r in results)
    assert len(engine.providers._instances) == 1


async def test_late_subscriber_sees_every_event(engine: Engine, fake_llm: FakeLLM) -> None:
    run = engine.start(HeavyRequest("q", config_for(fake_llm, agents=2)))
    first = [e.type async for e in run.stream()]
    second = [e.type async for e in run.stream()]  # after Done: full replay
    assert first == second and first[-1] == "done"


def test_registry_without_entry_points_has_builtins() -> None:
    assert ToolRegistry().names() == []
    assert "mark_task_complete" in default_registry(PluginRegistry(entry_points=False)).names()


async def test_cancel_before_the_run_starts_still_ends_with_done(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    run = engine.start(HeavyRequest("q", config_for(fake_llm)))
    assert run.cancel()  # before the task's first step
    events = [e async for e in run.stream()]
    assert [e.type for e in events] == ["done"]
    result = await run
    assert result.status == "cancelled" and engine.get(run.id) is None
    assert fake_llm.calls() == []


async def test_operator_prompt_may_contain_braces(engine: Engine, fake_llm: FakeLLM) -> None:
    prompt = 'Write exactly {n} sub-questions as JSON: {"questions": ["..."]}'
    result, _ = await ask(engine, fake_llm, agents=3, prompts={"decompose": prompt})
    assert result.status == "ok"
    system = fake_llm.calls("decompose")[0].body["messages"][0]["content"]
    assert system == 'Write exactly 3 sub-questions as JSON: {"questions": ["..."]}'


async def test_a_slow_decomposition_call_falls_back_instead_of_failing(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(slow_reply(5.0), when="decompose")
    result, events = await ask(engine, fake_llm, timeouts={"request": 10, "llm_call": 0.3})
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert ready.fallback and result.status == "ok" and len(result.questions) == 4


async def test_a_stalled_synthesis_stream_is_cut_at_the_call_timeout(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    # The engine's timer around the whole stream is the only one (the `Provider` contract).
    fake_llm.enqueue(hang_reply(), when="synthesis")
    result, _ = await ask(engine, fake_llm, timeouts={"request": 10, "llm_call": 0.3})
    assert result.status == "ok" and "## Agent 1" in result.answer  # the findings, as they are
    assert any("synthesis step failed" in n for n in result.notes)
    await fake_llm.wait_for(lambda f: f.calls("synthesis")[0].cancelled)


class _DeafProvider(SimulatedProvider):
    """A plugin provider that ignores `request.timeout`: only the engine's timer can stop it."""

    async def complete(self, request: ChatRequest) -> Completion:
        if request.purpose == "decompose":
            await asyncio.Event().wait()
        return await super().complete(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        await asyncio.Event().wait()
        yield ""  # pragma: no cover  (makes this an async generator)


async def test_the_call_timeout_holds_for_a_provider_without_timers(tmp_path: Any) -> None:
    config = HeavyConfig(agents=2, timeouts={"request": 10, "llm_call": 0.3})
    deaf = _DeafProvider("deaf", config.providers[config.provider])
    started = asyncio.get_running_loop().time()
    async with Engine(config, scratch_root=tmp_path, providers={config.provider: deaf}) as eng:
        run = eng.start(HeavyRequest("q", config))
        events = [e async for e in run.stream()]
        result = await run
    assert next(e for e in events if isinstance(e, QuestionsReady)).fallback
    assert result.status == "ok" and any("synthesis step failed" in n for n in result.notes)
    assert asyncio.get_running_loop().time() - started < 2  # two calls cut at 0.3 s each

@pytest.mark.parametrize("agents", [1, 3])
async def test_simulated_runs_are_marked(agents: int, tmp_path: Any) -> None:
    config = use_simulated(HeavyConfig(agents=agents))
    async with Engine(config, scratch_root=tmp_path) as eng:
        result = await eng.run(HeavyRequest("q", config))
    assert result.status == "ok" and result.simulated and "[simulated]" in result.answer


class _OddProvider(SimulatedProvider):
    """A plugin provider whose orchestrator steps fail with plain exceptions."""

    async def complete(self, request: ChatRequest) -> Completion:
        if request.purpose == "decompose":
            raise RuntimeError("plugin bug")
        return await super().complete(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        raise RuntimeError("plugin bug in streaming")
        yield ""  # pragma: no cover  (makes this an async generator)


@pytest.fixture
def odd_provider_type() -> Iterator[None]:
    """A `test-odd` provider plugin, registered for one test only."""
    with plugins.registry().registered(
            "providers", "test-odd", lambda name, config, env: _OddProvider(name, config)):
        yield


@pytest.mark.usefixtures("odd_provider_type")
async def test_any_provider_failure_in_orchestration_falls_back(tmp_path: Any) -> None:
    config = HeavyConfig(providers={"odd": {"type": "test-odd"}}, provider="odd", agents=2)
    async with Engine(config, scratch_root=tmp_path) as eng:
        run = eng.start(HeavyRequest("q", config))
        events = [e async for e in run.stream()]
        result = await run
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert ready.fallback and result.status == "ok"
    assert "## Agent 1" in result.answer  # the findings, since synthesis failed
    assert any("synthesis step failed" in n for n in result.notes)


async def test_synthesis_settings_shape_the_answer_only(engine: Engine, fake_llm: FakeLLM) -> None:
    synthesis = {"instructions": "Answer in French.", "temperature": 0.1, "max_tokens": 200}
    result, _ = await ask(engine, fake_llm, agents=2, synthesis=synthesis)
    assert result.status == "ok", result.error
    body = fake_llm.calls("synthesis")[0].body or {}
    assert (body["temperature"], body["max_tokens"]) == (0.1, 200)
    assert body["messages"][0]["content"].endswith(
        "The person asking gave these instructions for the answer:\nAnswer in French.")
    for call in fake_llm.calls("agent") + fake_llm.calls("decompose"):
        assert "max_tokens" not in (call.body or {})
        assert "French" not in str((call.body or {})["messages"][0])
    # With one agent its answer is the answer: the instructions go to it instead.
    fake_llm.requests.clear()
    await ask(engine, fake_llm, agents=1, synthesis=synthesis)
    assert not fake_llm.calls("synthesis")
    # (after the prefix all agents share, with the agent's own instructions: models29)
    assert all("Answer in French." in str((c.body or {})["messages"])
               for c in fake_llm.calls("agent"))
