"""Issue 15 in the engine: rounds, sources, agents auto, budgets, quorum, roles.

Call counts come from the fake LLM (real HTTP) or from an in-process scripted provider whose
answers depend on the request alone, so concurrent agents cannot swap their scripts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from heavy_engine import Done, Engine, HeavyRequest, QuestionsReady
from heavy_engine.core._events import AgentRevised, NotesCompared
from heavy_engine.core._types import ChatRequest, Completion, ToolCall, Usage
from heavy_engine.settings import SettingsRefused
from heavy_engine.settings._rules import check_value
from heavy_engine.testing import FakeLLM, RecordedRequest, fake_config, text_reply, tool_call_reply
from heavy_engine.tools import Calculate, MarkTaskComplete, Tool, ToolContext, ToolRegistry

# -- tools -------------------------------------------------------------------------------------


class _Key(BaseModel):
    key: str = "k"


class Lookup(Tool):
    name = "lookup"
    description = "Look a key up."
    Params = _Key

    async def run(self, params: _Key, ctx: ToolContext) -> str:
        return f"value-of-{params.key}"


class Slow(Tool):
    """Never returns within a test: whatever is waiting on it must be cancelled."""

    name = "slow"
    description = "Takes very long."
    Params = _Key

    async def run(self, params: _Key, ctx: ToolContext) -> str:
        await asyncio.sleep(30)
        return "late"


class _Url(BaseModel):
    url: str = ""


class FakeFetch(Tool):
    """Answers like `fetch_url` (URL and Title lines first), without any network."""

    name = "fetch_url"
    description = "Read a page."
    Params = _Url

    async def run(self, params: _Url, ctx: ToolContext) -> str:
        return f"URL: {params.url}\nTitle: Doc A\n\nThe answer is 42."


class _Query(BaseModel):
    query: str = ""


class FakeSearch(Tool):
    """Answers like `web_search` (numbered title, URL and snippet lines)."""

    name = "web_search"
    description = "Search."
    Params = _Query

    async def run(self, params: _Query, ctx: ToolContext) -> str:
        return ("Results for 'x':\n\n1. R1 title\n   https://r1.example/page\n   one\n"
                "\n2. R2 title\n   https://r2.example/\n   two")


@pytest.fixture
async def engine(fake_llm: FakeLLM, tmp_path: Any) -> Any:
    tools = ToolRegistry()
    for tool in (Lookup(), Slow(), FakeFetch(), FakeSearch(), Calculate(), MarkTaskComplete()):
        tools.register(tool)
    async with Engine(fake_config(fake_llm.base_url), tools=tools, scratch_root=tmp_path) as eng:
        yield eng


def config_for(fake: FakeLLM, **overrides: Any) -> Any:
    base: dict[str, Any] = {"tools": ["lookup"], "timeouts": {"request": 20}}
    if "budget" in overrides or "synthesis" in overrides:
        base["agents"] = "auto"  # as many agents as the scripted provider's sub-questions
    base.update(overrides)
    return fake_config(fake.base_url, **base)


async def ask(engine: Engine, config: Any, question: str = "Which database?") -> Any:
    run = engine.start(HeavyRequest(question, config))
    events = [e async for e in run.stream()]
    return await run, events


def depth(calls: list[RecordedRequest]) -> int:
    """Length of the longest chain of calls each started after the previous one finished."""
    done: list[tuple[float, int]] = []
    best = 0
    for c in sorted(calls, key=lambda r: r.started):
        d = 1 + max((dd for f, dd in done if f <= c.started), default=0)
        assert c.finished is not None
        done.append((c.finished, d))
        best = max(best, d)
    return best


# -- 1. rounds ---------------------------------------------------------------------------------


async def test_rounds_2_adds_one_tool_free_call_per_agent_and_one_step(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.latency = 0.15  # calls of one step overlap; steps follow each other
    first, _ = await ask(engine, config_for(fake_llm))
    assert len(fake_llm.calls()) == first.llm_calls == 10
    assert depth(fake_llm.calls()) == 4
    fake_llm.reset()
    result, events = await ask(engine, config_for(fake_llm, rounds=2))
    assert result.status == "ok", result.error
    calls = fake_llm.calls()
    assert len(calls) == result.llm_calls == 14
    assert [len(fake_llm.calls(p)) for p in ("decompose", "agent", "synthesis")] == [1, 12, 1]
    assert depth(calls) == 5  # the critical path gains exactly one call
    compare = [c for c in fake_llm.calls("agent")
               if "# Other agents' findings" in json.dumps(c.body)]
    assert len(compare) == 4
    for c in compare:
        assert c.body is not None and "tools" not in c.body  # offered no tools
        assert json.dumps(c.body).count("## Agent ") == 3  # the three other findings
    # every compare call starts after every first-round call ended, synthesis after them all
    first_round = [c for c in fake_llm.calls("agent") if c not in compare]
    assert min(c.started for c in compare) >= max(c.finished or 0 for c in first_round)
    synth = fake_llm.calls("synthesis")[0]
    assert synth.started >= max(c.finished or 0 for c in compare)
    assert "Do not take a majority vote" in json.dumps(synth.body)
    assert all(a.revised for a in result.agents)
    assert sum(isinstance(e, AgentRevised) and e.ok for e in events) == 4
    assert sum(isinstance(e, NotesCompared) for e in events) == 1


async def test_rounds_2_keeps_the_first_finding_when_a_revision_fails(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    from heavy_engine.testing import error_reply

    questions = json.dumps({"questions": ["What is A?", "What is B?"]})
    fake_llm.enqueue(questions, when="decompose")
    fake_llm.enqueue(text_reply("first A"), text_reply("first B"),
                     error_reply(400, "no"), text_reply("revised"), when="agent")
    result, _ = await ask(engine, config_for(fake_llm, agents=2, rounds=2, tools=[]))
    assert result.status == "ok" and result.llm_calls == 6
    assert sorted(a.answer for a in result.agents) in (["first A", "revised"],
                                                       ["first B", "revised"])
    assert any("kept their first finding" in n for n in result.notes)


# -- 2. sources --------------------------------------------------------------------------------


async def test_sources_are_what_tools_returned_and_agents_used(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(json.dumps({"questions": ["What does the doc say?",
                                               "What does a search find?"]}), when="decompose")
    fake_llm.enqueue(
        tool_call_reply(("fetch_url", {"url": "https://a.example/doc"})),
        tool_call_reply(("web_search", {"query": "x"})),
        text_reply("Found in https://r1.example/page."), text_reply("It is 42."),
        when="agent",
    )
    fake_llm.enqueue(text_reply(
        "42, see https://a.example/doc, [R1](https://r1.example/page) and https://made.up/x."),
        when="synthesis")
    result, events = await ask(engine, config_for(fake_llm, agents=2,
                                                 tools=["fetch_url", "web_search"]))
    assert result.status == "ok", result.error
    assert [s.as_dict() for s in result.sources] == [
        {"url": "https://a.example/doc", "title": "Doc A"},  # fetched
        {"url": "https://r1.example/page", "title": "R1 title"},  # a search result it cited
    ]  # r2 was listed by the search but never used; made.up came from no tool
    assert result.unverified == ["https://made.up/x"]
    assert result.answer == (
        "42, see https://a.example/doc, [R1](https://r1.example/page) and "
        "https://made.up/x (unverified).\n\n**Sources**\n1. [Doc A](https://a.example/doc)\n"
        "2. [R1 title](https://r1.example/page)")
    done = events[-1]
    assert isinstance(done, Done)
    assert done.as_dict()["result"]["sources"][1]["url"] == "https://r1.example/page"


# -- 3. agents auto ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "max_agents", "agents"),
    [
        (["What is A?", "What is B?", "What is C?"], 8, 3),  # as many as the model returned
        (["What is A?"], 8, 1),  # one is enough for a fact: still decomposed and synthesised
        ([f"What is q{i}?" for i in range(12)], 5, 5),  # cut to max_agents
    ],
)
async def test_agents_auto_runs_what_the_decomposition_returned(
    engine: Engine, fake_llm: FakeLLM, reply: list[str], max_agents: int, agents: int
) -> None:
    fake_llm.enqueue(json.dumps({"questions": reply}), when="decompose")
    result, events = await ask(engine, config_for(fake_llm, agents="auto", max_agents=max_agents))
    assert result.status == "ok", result.error
    assert len(result.agents) == agents
    assert len(fake_llm.calls()) == result.llm_calls == 2 * agents + 2
    system = fake_llm.calls("decompose")[0].body["messages"][0]["content"]  # type: ignore[index]
    assert f"between 1 and {max_agents}" in system
    assert events[0].as_dict()["agents"] == 0  # decided by the decomposition


async def test_agents_auto_with_unusable_decomposition_asks_the_question_itself(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue("no JSON today", when="decompose")
    result, events = await ask(engine, config_for(fake_llm, agents="auto"))
    ready = next(e for e in events if isinstance(e, QuestionsReady))
    assert ready.fallback and ready.questions == ("Which database?",)
    assert result.status == "ok" and result.llm_calls == 4


# -- scripted provider: answers by request, for budgets and quorum ------------------------------


@dataclass
class Scripted:
    """Sub-questions say how their agent behaves: `fast`, `slow` (a slow tool), `hang`."""

    questions: list[str]
    tokens: dict[str, int] = field(default_factory=dict)  # per kind of call
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    name: str = "scripted"

    def _kind(self, request: ChatRequest) -> str:
        if request.purpose != "agent":
            return request.purpose
        user = next(m["content"] for m in request.messages if m["role"] == "user")
        for kind in ("fast", "slow", "hang", "big"):
            if kind in user:
                return kind
        return "agent"

    async def complete(self, request: ChatRequest) -> Completion:
        kind = self._kind(request)
        self.started.append(kind)
        try:
            if kind == "hang":
                await asyncio.sleep(30)
            await asyncio.sleep(0.1 if kind in ("fast", "big") else 0.0)
        except asyncio.CancelledError:
            self.cancelled.append(kind)
            raise
        usage = Usage(prompt_tokens=self.tokens.get(kind, 1), completion_tokens=0, calls=1)
        if kind == "decompose":
            return Completion(json.dumps({"questions": self.questions}), usage=usage)
        if kind == "slow" and request.messages[-1]["role"] != "tool":
            return Completion("", [ToolCall("c1", "slow", "{}")], usage=usage)
        return Completion(f"finding of {kind}", usage=usage)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        completion = await self.complete(request)
        yield "synthesised answer"
        yield completion

    async def aclose(self) -> None:
        return None


@pytest.fixture
def scripted_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Scripted]:
    def install(questions: list[str], **tokens: int) -> Scripted:
        provider = Scripted(questions, tokens)
        monkeypatch.setattr(engine, "provider", lambda config, name=None: provider)
        return provider

    return install


# -- 4. budget ---------------------------------------------------------------------------------


async def test_budget_stops_new_calls_cancels_running_ones_and_joins_findings(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    provider = scripted_engine(["fast question 1?", "fast question 2?", "slow question 3?",
                                "slow question 4?"],
                               decompose=10, slow=5, fast=50)
    config = config_for(fake_llm, tools=["slow"], budget={"tokens": 100})
    started = time.monotonic()
    result, _ = await ask(engine, config)
    assert time.monotonic() - started < 10  # the slow tools were cancelled, not awaited
    # decompose 10 + two tool requests 5 + 5 + two answers 50 + 50: reached at the 2nd answer
    assert provider.started.count("decompose") == 1 and len(provider.started) == 5
    assert result.llm_calls == 5 and "synthesis" not in provider.started
    assert [a.status for a in result.agents] == ["ok", "ok", "cancelled", "cancelled"]
    assert "token budget (100 tokens)" in (result.agents[2].error or "")
    assert result.stopped_by == "token budget (100 tokens)"
    assert "finding of fast" in result.answer and "## Agent 2" in result.answer
    assert "Stopped early: this question's token budget (100 tokens) was reached" in result.answer


async def test_budget_reached_mid_call_cancels_the_calls_in_flight(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    provider = scripted_engine(["big question 1?", "hang question 2?", "hang question 3?"],
                               decompose=1, big=500)
    result, _ = await ask(engine, config_for(fake_llm, tools=[], budget={"tokens": 200}))
    assert sorted(provider.cancelled) == ["hang", "hang"]
    assert result.llm_calls == 4 and [a.status for a in result.agents] == [
        "ok", "cancelled", "cancelled"]
    assert result.answer.startswith("## Agent 1: big question 1?\n\nfinding of big")


async def test_synthesis_runs_when_its_call_fits_the_budget(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    provider = scripted_engine(["fast question 1?", "fast question 2?"], fast=10)
    result, _ = await ask(engine, config_for(fake_llm, tools=[], budget={"tokens": 5000}))
    assert provider.started.count("synthesis") == 1 and result.llm_calls == 4
    assert result.answer == "synthesised answer" and result.stopped_by is None


async def test_budget_reached_before_any_agent_finished_fails_clearly(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    scripted_engine(["fast question 1?", "fast question 2?"], decompose=50)
    result, _ = await ask(engine, config_for(fake_llm, tools=[], budget={"tokens": 10}))
    assert result.status == "failed" and result.llm_calls == 1
    assert "token budget (10 tokens) was reached before any agent finished" in (result.error or "")


# -- 5. quorum ---------------------------------------------------------------------------------


async def test_quorum_cuts_off_the_rest_after_the_grace_period(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    provider = scripted_engine(["fast question 1?", "hang question 2?", "fast question 3?", "hang question 4?"])
    config = config_for(fake_llm, tools=[], synthesis={"quorum": 2, "grace_s": 0.2})
    started = time.monotonic()
    result, _ = await ask(engine, config)
    assert time.monotonic() - started < 10
    assert [a.status for a in result.agents] == ["ok", "timeout", "ok", "timeout"]
    assert "quorum" in (result.agents[1].error or "")
    assert sorted(provider.cancelled) == ["hang", "hang"]
    assert result.llm_calls == 6 and result.answer == "synthesised answer"
    assert any("2 of 4 agents did not finish (timeout)" in n for n in result.notes)


async def test_quorum_waits_for_agents_that_finish_within_the_grace(
    engine: Engine, fake_llm: FakeLLM, scripted_engine: Callable[..., Scripted]
) -> None:
    scripted_engine(["agent question 1?", "fast question 2?", "fast question 3?"])
    config = config_for(fake_llm, tools=[], synthesis={"quorum": 1, "grace_s": 5})
    result, _ = await ask(engine, config)
    assert [a.status for a in result.agents] == ["ok", "ok", "ok"]


# -- 6. roles ----------------------------------------------------------------------------------


async def test_roles_layer_per_agent(engine: Engine, fake_llm: FakeLLM) -> None:
    base = config_for(fake_llm)
    config = base.with_overrides({"agent_roles": ["sceptic", "contrarian"],
                                  "agent_overrides": [{}, {"role": "quantitative_analyst"}]})
    result, _ = await ask(engine, config)
    assert [a.role for a in result.agents] == ["sceptic", "quantitative_analyst", None, None]
    # A role is the agent's own: sent after the shared system prompt, with its sub-question.
    owns = {json.dumps(c.body["messages"][1]["content"]) for c in fake_llm.calls("agent")
            if c.body}
    assert any("Your role: sceptic" in s for s in owns)
    assert any("Your role: quantitative analyst" in s for s in owns)
    assert not any("Your role: contrarian" in s for s in owns)  # agent 2's own role wins


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("agent.2.role", "sceptic", "sceptic"),  # a preset from config.yaml
        ("roles", "lead_researcher, sceptic", ["lead_researcher", "sceptic"]),  # by position
        ("rounds", "2", 2),
        ("agents", "auto", "auto"),
        ("budget_tokens", "5000", 5000),
        ("budget_cost_usd", "none", None),  # unset: unlimited
        ("quorum", "3", 3),
    ],
)
def test_new_settings_are_checked_like_every_setting(key: str, value: str, expected: Any) -> None:
    from heavy_engine import HeavyConfig

    assert check_value(HeavyConfig(), key, value, None) == (key, expected)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("agent.1.role", "pirate", "unknown role 'pirate'"),  # not a preset
        ("rounds", "3", "less than or equal to 2"),
        ("budget_tokens", "0", "greater than or equal to 1"),
        ("agents", "lots", "valid integer from 1 to 16, or auto"),
    ],
)
def test_bad_new_settings_are_refused(key: str, value: str, message: str) -> None:
    from heavy_engine import HeavyConfig

    with pytest.raises(SettingsRefused, match=message):
        check_value(HeavyConfig(), key, value, None)


async def test_cost_budget_counts_the_providers_reported_cost(
    engine: Engine, fake_llm: FakeLLM
) -> None:
    result, _ = await ask(engine, config_for(fake_llm, budget={"cost_usd": 1e-9}))
    # the decomposition alone spends more: no agent call ever starts
    assert len(fake_llm.calls()) == result.llm_calls == 1
    assert result.status == "failed" and "cost budget ($1e-09)" in (result.error or "")


def test_roles_layer_from_channel_and_request() -> None:
    from heavy_engine import HeavyConfig
    from heavy_engine.settings._resolve import layer

    resolved = layer(HeavyConfig(), {}, {"roles": "sceptic,contrarian"},
                     {"agent.2.role": "lead_researcher"})
    config = resolved.config
    assert [config.role_of(i) for i in range(3)] == ["sceptic", "lead_researcher", None]
    assert resolved.sources["roles"] == "channel"
    assert resolved.sources["agent.2.role"] == "request"
