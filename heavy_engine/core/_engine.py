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
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..attachments import (
    Attachments,
    attachment_notes,
    image_parts_for,
    prompt_context,
    with_images,
)
from ..providers import Provider, ProviderPool
from ..tools import ToolContext, ToolRegistry, default_registry
from ._agent import (
    AgentSpec,
    BudgetReached,
    CallBudget,
    call_model,
    opening_messages,
    run_agent,
)
from ._config import HeavyConfig, validate_question
from ._decompose import (
    bound_questions,
    fallback_questions,
    normalise_questions,
    parse_questions,
    usable_questions,
)
from ._errors import HeavyError, ProviderError, RequestRejected
from ._events import (
    Accepted,
    AgentFinished,
    AgentRevised,
    AgentStarted,
    AgentSummary,
    Done,
    Event,
    NotesCompared,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
    first_line,
)
from ._sources import check_citations, sources_section, used_sources
from ._types import ChatRequest, Completion, Usage

log = logging.getLogger("heavy.engine")
# Provider refusals that no retry and no other prompt can fix: they end the run at once.
_FATAL_STATUSES = frozenset({401, 402, 403, 404})


@dataclass(slots=True)
class HeavyRequest:
    """One question. `config` is the effective (already layered) configuration for it."""

    question: str
    config: HeavyConfig
    id: str = ""
    context: str | None = None  # earlier conversation, already formatted as text
    requester: str | None = None
    attachments: Attachments | None = None  # the question's files: text, images, notes


def _instructions(text: str) -> str:
    """The asker's own instructions for the answer (an OpenAI client's system message)."""
    return f"The person asking gave these instructions for the answer:\n{text.strip()}"


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
        providers: Mapping[str, Provider] | None = None,
    ) -> None:
        """`providers` hands in provider instances by name (the test seam, like httpx's
        `transport=`); the others are built from the config's plugins and closed with us."""
        self.config = config
        self.providers = ProviderPool(os.environ if env is None else env, instances=providers)
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
        request.context = prompt_context(request.context, request.attachments)
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
                            llm_call_timeout=cfg.timeouts.llm_call,
                            max_tokens=cfg.budget.tokens, max_cost_usd=cfg.budget.cost_usd)
        tool_ctx = ToolContext(req.id, None, cfg.tool_settings, budget.deadline,
                               scratch_root=self.scratch_root, search=cfg.search)
        result.notes.extend(attachment_notes(cfg, req.attachments))
        # `agents: auto` is decided by the decomposition: 0 until QuestionsReady says.
        run.emit(Accepted(request_id=req.id, question=req.question, agents=cfg.agent_count))
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
            questions, fallback = await self._decompose(req, orchestrator, budget, synth_usage,
                                                        result.notes)
            result.questions = questions
            run.emit(QuestionsReady(questions=tuple(questions), fallback=fallback))
            await self._run_agents(run, result, budget, tool_ctx)
            if cfg.rounds == 2:
                await self._compare_notes(run, result, budget)
            await self._synthesise(run, result, orchestrator, budget, synth_usage)
            if result.answer:
                self._finish_answer(run, result)
        finally:
            result.usage.add(synth_usage)
            result.simulated = budget.simulated

    async def _decompose(
        self, req: HeavyRequest, provider: Provider, budget: CallBudget, usage: Usage,
        notes: list[str],
    ) -> tuple[list[str], bool]:
        cfg = req.config
        if cfg.agents == 1:
            return [req.question], False
        user = req.question if not req.context else f"{req.context}\n\nQuestion: {req.question}"
        if cfg.auto_agents:
            system = cfg.prompts.decompose_auto_for(cfg.max_agents)
        else:
            system = cfg.prompts.decompose_for(cfg.agent_count)
        request = ChatRequest(
            model=cfg.effective_orchestrator_model,
            messages=[
                {"role": "system", "content": system},
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
            if isinstance(err, ProviderError) and (err.status in _FATAL_STATUSES
                                                   or err.unreachable):
                raise  # an unknown model, a refused key, no server: every agent would too
            log.warning("decomposition failed (%s); using fallback sub-questions",
                        err if isinstance(err, ProviderError) else repr(err))
            if cfg.auto_agents:
                return [req.question], True
            return fallback_questions(req.question, cfg.agent_count), True
        found, dropped = usable_questions(parse_questions(completion.content))
        if dropped:  # a weak model's work, for the user to judge
            shown = ", ".join(repr(q[:40]) for q in dropped[:3])
            notes.append(f"{len(dropped)} of the model's {len(found) + len(dropped)} "
                         f"sub-questions were not usable questions ({shown}: not a question "
                         "in words, or a repeat) and were dropped.")
        if cfg.auto_agents:
            return bound_questions(found, req.question, cfg.max_agents)
        return normalise_questions(found, req.question, cfg.agent_count)

    def _agent_spec(self, cfg: HeavyConfig, index: int, question: str) -> AgentSpec:
        over = cfg.agent_overrides[index] if index < len(cfg.agent_overrides) else None
        provider_name = (over.provider if over else None) or cfg.provider
        # The system prompt is the run's, the same for every agent (a shared cached prefix);
        # a role and an override's prompt are the agent's own, sent after it.
        system = cfg.prompts.agent
        if cfg.system_prompt:
            system = f"{system}\n\n{cfg.system_prompt}"
        role = cfg.role_of(index)
        # One agent's answer is the answer: the asker's instructions go to it, after the
        # shared prefix like every agent's own instructions.
        single = (_instructions(cfg.synthesis.instructions)
                  if cfg.agents == 1 and cfg.synthesis.instructions else None)
        own = (cfg.roles[role] if role else None, over.system_prompt if over else None, single)
        temperature = over.temperature if over and over.temperature is not None else cfg.temperature
        tool_names = over.tools if over and over.tools is not None else cfg.tools
        return AgentSpec(
            index=index,
            question=question,
            provider=self.provider(cfg, provider_name),
            model=cfg.model_on(provider_name, (over.model if over else None) or cfg.model),
            system_prompt=system,
            temperature=temperature,
            tools=self.tools.select(tool_names),
            max_iterations=cfg.max_iterations,
            tool_timeout=cfg.timeouts.tool,
            instructions=tuple(text for text in own if text),
        )

    async def _run_agents(
        self, run: Run, result: RunResult, budget: CallBudget, tool_ctx: ToolContext
    ) -> None:
        cfg = run.request.config
        specs = [self._agent_spec(cfg, i, q) for i, q in enumerate(result.questions)]
        summaries = [AgentSummary(index=s.index, question=s.question, model=s.model,
                                  role=cfg.role_of(s.index)) for s in specs]
        result.agents = summaries  # visible to the caller even if the deadline cuts us short
        result.models = sorted({s.model for s in specs}
                               | {cfg.model_on(cfg.provider, cfg.effective_orchestrator_model)})
        crew = _Crew(budget)
        quorum, grace = cfg.synthesis.quorum, cfg.synthesis.grace_s

        async def one(spec: AgentSpec, summary: AgentSummary) -> None:
            run.emit(AgentStarted(index=spec.index, question=spec.question, model=spec.model))
            try:
                async with asyncio.timeout(cfg.timeouts.agent):
                    await run_agent(spec, context=run.request.context, budget=budget,
                                    images=image_parts_for(cfg, spec.model,
                                                           run.request.attachments),
                                    tool_ctx=tool_ctx, emit=run.emit, summary=summary)
            except TimeoutError:
                summary.status = "timeout"
                summary.error = "timed out"
            except BudgetReached:
                summary.status, summary.error = "cancelled", f"stopped by the {budget.reached}"
            except HeavyError as err:
                summary.status = "failed"
                summary.error = err.user_message
            except asyncio.CancelledError:
                reason = crew.stopped(spec.index)
                if reason == "quorum":
                    summary.status = "timeout"
                    summary.error = f"cut off {grace:g} s after {quorum} agents finished (quorum)"
                elif reason == "budget":
                    summary.status, summary.error = "cancelled", f"stopped by the {budget.reached}"
                elif asyncio.get_running_loop().time() >= budget.deadline:
                    summary.status, summary.error = "timeout", "the request deadline passed"
                else:
                    summary.status, summary.error = "cancelled", "cancelled"
                if reason is None:
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
                    summary=first_line(summary.answer),
                ))

        crew.start({s.index: one(s, m) for s, m in zip(specs, summaries, strict=True)})
        async with crew:
            if quorum is not None and quorum < len(specs):
                await crew.quorum(quorum, grace, lambda i: summaries[i].status == "ok")
            await crew.wait()

    async def _compare_notes(self, run: Run, result: RunResult, budget: CallBudget) -> None:
        """`rounds: 2`: one call per surviving agent, no tools, to revise its finding."""
        req, cfg = run.request, run.request.config
        ok = [a for a in result.agents if a.status == "ok"]
        if len(ok) < 2 or budget.reached is not None:
            return
        run.emit(NotesCompared(agents=len(ok)))
        crew = _Crew(budget)

        async def revise(summary: AgentSummary) -> None:
            spec = self._agent_spec(cfg, summary.index, summary.question)
            others = "\n\n".join(f"## Agent {o.index + 1}: {o.question}\n\n{o.answer}"
                                  for o in ok if o is not summary)
            request = ChatRequest(
                model=spec.model,
                messages=[
                    *opening_messages(spec, req.context),
                    {"role": "assistant", "content": summary.answer},
                    {"role": "user", "content":
                        f"{cfg.prompts.compare_notes}\n\n# Other agents' findings\n\n{others}"},
                ],
                temperature=spec.temperature,
                purpose="agent",
            )
            started, error = time.monotonic(), None
            try:
                async with asyncio.timeout(cfg.timeouts.agent):
                    completion = await call_model(spec.provider, request, budget, summary.usage)
                if text := completion.content.strip():
                    summary.answer, summary.revised = text, True
                else:
                    error = "the model returned an empty revision"
            except asyncio.CancelledError:
                error = f"stopped by the {budget.reached}"
                if crew.stopped(summary.index) is None:
                    raise
            except BudgetReached:
                error = f"stopped by the {budget.reached}"
            except Exception as err:  # the first finding stands
                if isinstance(err, TimeoutError) and budget.expired:
                    raise
                error = err.user_message if isinstance(err, HeavyError) else "the call failed"
                log.warning("compare-notes call of agent %d failed: %r", summary.index, err)
            finally:
                summary.elapsed_s += time.monotonic() - started
                run.emit(AgentRevised(index=summary.index, ok=error is None,
                                      elapsed_s=round(time.monotonic() - started, 3), error=error))

        crew.start({a.index: revise(a) for a in ok})
        async with crew:
            await crew.wait()
        if kept := [a for a in ok if not a.revised]:
            result.notes.append(f"{len(kept)} of {len(ok)} agents kept their first finding "
                                "(the compare-notes call did not finish).")

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
        if budget.reached is not None:
            result.stopped_by = budget.reached
        if lost and ok:  # with none left, the run's error says so
            result.notes.append(
                f"{len(lost)} of {len(result.agents)} agents did not finish "
                f"({', '.join(sorted({a.status for a in lost}))}); the answer uses the others."
            )
        if not ok:
            first = next((a.error for a in lost if a.error), "no answer")
            result.status = "failed"
            result.error = f"All {len(result.agents)} agents failed: {first}"
            if result.stopped_by:
                result.error = (f"This question's {result.stopped_by} was reached before any "
                                "agent finished.")
            return
        run.emit(SynthesisStarted(survivors=len(ok)))
        if cfg.agents == 1:  # no decomposition ran: the one agent answered the question itself
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
        system = cfg.prompts.synthesis
        if cfg.rounds == 2:
            system = f"{system}\n\n{cfg.prompts.weigh_evidence}"
        if cfg.synthesis.instructions:
            system = f"{system}\n\n{_instructions(cfg.synthesis.instructions)}"
        if budget.max_tokens is not None or budget.max_cost_usd is not None:
            # The synthesis call must fit in what is left; else the findings are joined as-is.
            expected = max((a.usage.completion_tokens for a in ok), default=0)
            if not budget.fits((len(system) + len(user)) // 4 + expected):
                result.stopped_by = result.stopped_by or _limits_text(cfg)
                result.notes.append("The synthesis would not fit in the budget; showing the "
                                    "agents' findings instead.")
                result.answer = findings
                run.emit(SynthesisDelta(text=findings))
                return
        request = ChatRequest(
            model=cfg.effective_orchestrator_model,
            messages=[{"role": "system", "content": system},
                      {"role": "user", "content": with_images(user, image_parts_for(
                          cfg, cfg.effective_orchestrator_model, req.attachments))}],
            temperature=(cfg.synthesis.temperature if cfg.synthesis.temperature is not None
                         else cfg.temperature),
            max_tokens=cfg.synthesis.max_tokens,
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
                budget.charge(completion.usage)
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

    def _finish_answer(self, run: Run, result: RunResult) -> None:
        """Mark citations no tool returned, say whether a budget stopped it, list the sources."""
        fetched = [s for a in result.agents for s in a.fetched]
        searched = [s for a in result.agents for s in a.searched]
        if fetched or searched:
            texts = [*(a.answer for a in result.agents if a.status == "ok"), result.answer]
            result.sources = used_sources(fetched, searched, texts)
        body = result.answer
        if "http" in body:  # most answers cite nothing: skip the regex work
            body, result.unverified = check_citations(body, [s.url for s in fetched + searched])
        tail = ""
        if result.stopped_by:
            note = (f"Stopped early: this question's {result.stopped_by} was reached, so the "
                    "answer uses what the agents had found by then.")
            result.notes.append(note)
            tail += f"\n\n_{note}_"
        if result.sources:
            tail += f"\n\n{sources_section(result.sources)}"
        result.answer = body + tail
        if tail:
            run.emit(SynthesisDelta(text=tail))


def _limits_text(cfg: HeavyConfig) -> str:
    parts = []
    if cfg.budget.tokens is not None:
        parts.append(f"token budget ({cfg.budget.tokens:,} tokens)")
    if cfg.budget.cost_usd is not None:
        parts.append(f"cost budget (${cfg.budget.cost_usd:g})")
    return " and ".join(parts)


class _Crew:
    """Agent steps run concurrently, which the engine may stop early (quorum, budget).

    A step stopped on purpose sees `CancelledError` with `stopped(index)` saying why, records
    it and returns; any other cancellation (the request's) propagates as usual.
    """

    def __init__(self, budget: CallBudget) -> None:
        self.budget = budget
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._reasons: dict[int, str] = {}

    def start(self, steps: Mapping[int, Coroutine[Any, Any, None]]) -> None:
        self.tasks = {i: asyncio.create_task(step) for i, step in steps.items()}
        self.budget.on_reached = lambda: self.stop("budget")

    def stopped(self, index: int) -> str | None:
        return self._reasons.get(index)

    def stop(self, reason: str) -> None:
        """Cancel every unfinished step but the caller's (it finds out at its next call)."""
        me = asyncio.current_task()
        for index, task in self.tasks.items():
            if not task.done() and task is not me:
                self._reasons.setdefault(index, reason)
                task.cancel()

    async def quorum(self, k: int, grace: float, ok: Callable[[int], bool]) -> None:
        """Once `k` steps ended well, give the others `grace` seconds, then stop them."""
        pending = {t for t in self.tasks.values() if not t.done()}
        while pending and sum(ok(i) for i, t in self.tasks.items() if t.done()) < k:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=grace)
            self.stop("quorum")

    async def wait(self) -> None:
        await asyncio.gather(*self.tasks.values())

    async def __aenter__(self) -> _Crew:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.budget.on_reached = None
        left = [t for t in self.tasks.values() if not t.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
