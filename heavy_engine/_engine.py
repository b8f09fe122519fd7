"""The orchestrator: decompose, run N agents concurrently, synthesise, emit progress events.

`Engine` is long-lived and shared by every request in the process (providers, clients, limits,
tools). `Engine.start()` returns a `Run`: a task plus its event log, which any number of
consumers can follow from the start. A run always ends with a `Done` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._agent import AgentSpec, CallBudget, call_model, run_agent
from ._config import HeavyConfig
from ._decompose import fallback_questions, normalise_questions, parse_questions
from ._errors import HeavyError, ProviderError, RequestRejected
from ._events import (
    Accepted,
    AgentFinished,
    AgentStarted,
    AgentSummary,
    Done,
    Event,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
)
from ._types import ChatRequest, Completion, Usage
from .providers import Provider, ProviderPool
from .tools import ToolContext, ToolRegistry, default_registry

log = logging.getLogger("heavy.engine")


@dataclass(slots=True)
class HeavyRequest:
    """One question. `config` is the effective (already layered) configuration for it."""

    question: str
    config: HeavyConfig
    id: str = ""
    context: str | None = None  # earlier conversation, already formatted as text
    requester: str | None = None


def validate_question(question: str, config: HeavyConfig) -> str:
    """The question stripped, or `RequestRejected` saying why it cannot be asked."""
    q = question.strip()
    if not q:
        raise RequestRejected("The question is empty: ask something after the command.")
    if len(q) > config.max_question_chars:
        raise RequestRejected(
            f"The question is {len(q)} characters long; the limit is {config.max_question_chars}."
        )
    return q


class Run:
    """A running (or finished) request: its id, its events so far, and its result."""

    def __init__(self, request: HeavyRequest) -> None:
        self.id = request.id
        self.request = request
        self.events: list[Event] = []
        self.result: RunResult | None = None
        self._waiters: list[asyncio.Queue[Event]] = []
        self._task: asyncio.Task[RunResult] | None = None

    def emit(self, event: Event) -> None:
        self.events.append(event)
        for q in self._waiters:
            q.put_nowait(event)

    async def stream(self) -> AsyncIterator[Event]:
        """Every event of the run, from the first, until `Done`."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        backlog = list(self.events)
        self._waiters.append(queue)
        try:
            for event in backlog:
                yield event
                if isinstance(event, Done):
                    return
            while True:
                event = await queue.get()
                yield event
                if isinstance(event, Done):
                    return
        finally:
            self._waiters.remove(queue)

    def cancel(self) -> bool:
        """Ask the run to stop; True if it was still running."""
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    @property
    def done(self) -> bool:
        return self.result is not None

    async def wait(self) -> RunResult:
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            # The run's task was cancelled before its first step (`_never_started` filled in
            # the result); if it is the waiter that is being cancelled, let that through.
            me = asyncio.current_task()
            if self.result is None or (me is not None and me.cancelling()):
                raise
            return self.result

    def __await__(self) -> Generator[Any, None, RunResult]:
        return self.wait().__await__()


class Engine:
    """Shared by all requests of the process; use as `async with Engine(config) as engine`."""

    def __init__(
        self,
        config: HeavyConfig,
        *,
        env: Mapping[str, str] | None = None,
        tools: ToolRegistry | None = None,
        scratch_root: Path | None = None,
    ) -> None:
        self.config = config
        self.providers = ProviderPool(os.environ if env is None else env)
        self.tools = tools if tools is not None else default_registry()
        self.scratch_root = scratch_root
        self._runs: dict[str, Run] = {}

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for run in list(self._runs.values()):
            run.cancel()
        await asyncio.gather(
            *(r._task for r in self._runs.values() if r._task), return_exceptions=True
        )
        await self.providers.aclose()

    def provider(self, config: HeavyConfig, name: str | None = None) -> Provider:
        name = name or config.provider
        return self.providers.get(name, config.providers[name])

    def start(self, request: HeavyRequest) -> Run:
        """Validate and start a run in the background. Raises `RequestRejected` for bad input."""
        request.question = validate_question(request.question, request.config)
        request.id = request.id or uuid.uuid4().hex[:12]
        if request.id in self._runs:
            raise RequestRejected(f"A run with id {request.id} is already in progress.")
        run = Run(request)
        self._runs[request.id] = run
        run._task = asyncio.get_running_loop().create_task(self._execute(run))
        run._task.add_done_callback(lambda _: self._never_started(run))
        return run

    def _never_started(self, run: Run) -> None:
        """A task cancelled before its first step never runs `_execute`: still end with Done."""
        if run.result is None:
            self._runs.pop(run.id, None)
            run.result = RunResult(request_id=run.id, question=run.request.question,
                                   status="cancelled", error="The request was cancelled.")
            run.emit(Done(result=run.result))

    async def run(self, request: HeavyRequest) -> RunResult:
        return await self.start(request).wait()

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def cancel(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        return run.cancel() if run else False

    async def _execute(self, run: Run) -> RunResult:
        req, cfg = run.request, run.request.config
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        result = RunResult(request_id=req.id, question=req.question)
        budget = CallBudget(deadline=loop.time() + cfg.timeouts.request,
                            llm_call_timeout=cfg.timeouts.llm_call)
        tool_ctx = ToolContext(req.id, None, cfg.tool_settings, budget.deadline,
                               scratch_root=self.scratch_root)
        run.emit(Accepted(request_id=req.id, question=req.question, agents=cfg.agents))
        try:
            async with asyncio.timeout_at(budget.deadline):
                await self._orchestrate(run, result, budget, tool_ctx)
        except TimeoutError:
            result.status = "timeout"
            result.error = f"The request ran out of time ({cfg.timeouts.request:g} s)."
        except asyncio.CancelledError:
            result.status = "cancelled"
            result.error = "The request was cancelled."
        except HeavyError as err:
            result.status = "failed"
            result.error = err.user_message
        except Exception:
            log.exception("run %s crashed", req.id)
            result.status = "failed"
            result.error = "An internal error stopped this request."
        finally:
            self._runs.pop(req.id, None)
            await tool_ctx.aclose()  # off the loop; a full scratch directory takes a while
        for agent in result.agents:
            result.usage.add(agent.usage)
        result.llm_calls = budget.calls
        result.elapsed_s = time.monotonic() - started
        run.result = result
        run.emit(Done(result=result))
        return result

    async def _orchestrate(
        self, run: Run, result: RunResult, budget: CallBudget, tool_ctx: ToolContext
    ) -> None:
        req, cfg = run.request, run.request.config
        orchestrator = self.provider(cfg)
        synth_usage = Usage()  # the orchestrator's own calls, accounted whatever happens
        try:
            questions, fallback = await self._decompose(req, orchestrator, budget, synth_usage)
            result.questions = questions
            run.emit(QuestionsReady(questions=tuple(questions), fallback=fallback))
            await self._run_agents(run, result, budget, tool_ctx)
            await self._synthesise(run, result, orchestrator, budget, synth_usage)
        finally:
            result.usage.add(synth_usage)
            result.simulated = budget.simulated

    async def _decompose(
        self, req: HeavyRequest, provider: Provider, budget: CallBudget, usage: Usage
    ) -> tuple[list[str], bool]:
        cfg = req.config
        if cfg.agents == 1:
            return [req.question], False
        user = req.question if not req.context else f"{req.context}\n\nQuestion: {req.question}"
        request = ChatRequest(
            model=cfg.effective_orchestrator_model,
            messages=[
                {"role": "system", "content": cfg.prompts.decompose_for(cfg.agents)},
                {"role": "user", "content": user},
            ],
            temperature=0.2,
            json_mode=cfg.providers[cfg.provider].json_mode,
            purpose="decompose",
        )
        try:
            completion = await call_model(provider, request, budget, usage)
        except Exception as err:  # any provider, ours or a plugin: fall back, don't fail
            if isinstance(err, TimeoutError) and budget.expired:
                raise  # the whole request is out of time, not just this call
            log.warning("decomposition failed (%s); using fallback sub-questions",
                        err if isinstance(err, ProviderError) else repr(err))
            return fallback_questions(req.question, cfg.agents), True
        return normalise_questions(parse_questions(completion.content), req.question, cfg.agents)

    def _agent_spec(self, cfg: HeavyConfig, index: int, question: str) -> AgentSpec:
        over = cfg.agent_overrides[index] if index < len(cfg.agent_overrides) else None
        provider_name = (over.provider if over else None) or cfg.provider
        system = cfg.prompts.agent
        if cfg.system_prompt:
            system = f"{system}\n\n{cfg.system_prompt}"
        if over and over.system_prompt:
            system = f"{system}\n\n{over.system_prompt}"
        temperature = over.temperature if over and over.temperature is not None else cfg.temperature
        tool_names = over.tools if over and over.tools is not None else cfg.tools
        return AgentSpec(
            index=index,
            question=question,
            provider=self.provider(cfg, provider_name),
            model=(over.model if over else None) or cfg.model,
            system_prompt=system,
            temperature=temperature,
            tools=self.tools.select(tool_names),
            max_iterations=cfg.max_iterations,
            tool_timeout=cfg.timeouts.tool,
        )

    async def _run_agents(
        self, run: Run, result: RunResult, budget: CallBudget, tool_ctx: ToolContext
    ) -> None:
        cfg = run.request.config
        specs = [self._agent_spec(cfg, i, q) for i, q in enumerate(result.questions)]
        summaries = [AgentSummary(index=s.index, question=s.question, model=s.model) for s in specs]
        result.agents = summaries  # visible to the caller even if the deadline cuts us short
        result.models = sorted({s.model for s in specs} | {cfg.effective_orchestrator_model})

        async def one(spec: AgentSpec, summary: AgentSummary) -> None:
            run.emit(AgentStarted(index=spec.index, question=spec.question, model=spec.model))
            try:
                async with asyncio.timeout(cfg.timeouts.agent):
                    await run_agent(spec, context=run.request.context, budget=budget,
                                    tool_ctx=tool_ctx, emit=run.emit, summary=summary)
            except TimeoutError:
                summary.status = "timeout"
                summary.error = "timed out"
            except HeavyError as err:
                summary.status = "failed"
                summary.error = err.user_message
            except asyncio.CancelledError:
                if asyncio.get_running_loop().time() >= budget.deadline:
                    summary.status, summary.error = "timeout", "the request deadline passed"
                else:
                    summary.status, summary.error = "cancelled", "cancelled"
                raise
            except Exception as err:
                log.exception("agent %d of run %s crashed", spec.index, run.id)
                summary.status = "failed"
                summary.error = f"internal error ({type(err).__name__})"
            finally:
                run.emit(AgentFinished(
                    index=spec.index, status=summary.status, iterations=summary.iterations,
                    elapsed_s=round(summary.elapsed_s, 3),
                    prompt_tokens=summary.usage.prompt_tokens,
                    completion_tokens=summary.usage.completion_tokens, error=summary.error,
                ))

        await asyncio.gather(*(one(s, m) for s, m in zip(specs, summaries, strict=True)))

    async def _synthesise(
        self,
        run: Run,
        result: RunResult,
        provider: Provider,
        budget: CallBudget,
        usage: Usage,
    ) -> None:
        req, cfg = run.request, run.request.config
        ok = [a for a in result.agents if a.status == "ok"]
        lost = [a for a in result.agents if a.status != "ok"]
        if lost:
            result.notes.append(
                f"{len(lost)} of {len(result.agents)} agents did not finish "
                f"({', '.join(sorted({a.status for a in lost}))}); the answer uses the others."
            )
        if not ok:
            first = next((a.error for a in lost if a.error), "no answer")
            result.status = "failed"
            result.error = f"All {len(result.agents)} agents failed: {first}"
            return
        run.emit(SynthesisStarted(survivors=len(ok)))
        if len(result.agents) == 1:
            result.answer = ok[0].answer
            run.emit(SynthesisDelta(text=result.answer))
            return
        findings = "\n\n".join(
            f"## Agent {a.index + 1}: {a.question}\n\n{a.answer}" for a in ok
        )
        missing = "".join(f"\n- Agent {a.index + 1} ({a.question}): {a.status}" for a in lost)
        user = f"Question: {req.question}\n\n# Findings\n\n{findings}"
        if missing:
            user += f"\n\n# Agents that did not finish{missing}"
        if req.context:
            user = f"{req.context}\n\n{user}"
        request = ChatRequest(
            model=cfg.effective_orchestrator_model,
            messages=[{"role": "system", "content": cfg.prompts.synthesis},
                      {"role": "user", "content": user}],
            temperature=cfg.temperature,
            purpose="synthesis",
        )
        parts: list[str] = []
        request.timeout = budget.next_timeout()
        try:
            completion: Completion | None = None
            async with (asyncio.timeout(request.timeout),
                        contextlib.aclosing(provider.stream(request)) as stream):
                async for item in stream:
                    if isinstance(item, str):
                        parts.append(item)
                        run.emit(SynthesisDelta(text=item))
                    else:
                        completion = item
            if completion is not None:
                usage.add(completion.usage)
                budget.simulated = budget.simulated or completion.simulated
            result.answer = "".join(parts).strip() or (completion.content if completion else "")
        except Exception as err:  # any provider failure: the findings are still worth showing
            if isinstance(err, TimeoutError) and budget.expired:
                raise
            log.warning("synthesis failed for run %s: %r", run.id, err)
            result.notes.append("The synthesis step failed; showing the agents' findings instead.")
            result.answer = findings
            run.emit(SynthesisDelta(text=("\n\n" if parts else "") + findings))
        if not result.answer:
            result.status = "failed"
            result.error = "The model returned an empty answer."
