"""The agent loop: call the model, run the tools it asks for, repeat until it answers.

The loop ends when the model answers without tool calls, when it calls `mark_task_complete`, or
at `max_iterations` (the last iteration is offered no tools, so it must answer). Tool calls of
one turn run concurrently, at most `max_calls_per_turn` of them (the rest are answered with an
error, not run). No LLM call starts once the deadline has passed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..providers import Provider
from ..tools import COMPLETE_TOOL, Tool, ToolContext, execute_tool
from ._events import AgentSummary, Event, ToolCalled, ToolFinished
from ._sources import fetched_source, search_results
from ._types import ChatRequest, Completion, Message, ToolCall, Usage


class BudgetReached(Exception):
    """The question's token or cost budget is spent: no new LLM call may start."""


@dataclass(slots=True)
class CallBudget:
    """Shared by one run: counts LLM calls and enforces the deadline before each call.

    With `max_tokens` / `max_cost_usd`, usage is charged after every call; the call that
    reaches a limit runs `on_reached` once (the engine cancels the calls still running) and
    every later `next_timeout()` raises `BudgetReached`.
    """

    deadline: float
    llm_call_timeout: float
    calls: int = 0
    simulated: bool = False  # some answer came from the offline simulated model
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    spent: Usage = field(default_factory=Usage)
    reached: str | None = None  # which limit stopped the run, in words
    on_reached: Callable[[], None] | None = None

    @property
    def expired(self) -> bool:
        return asyncio.get_running_loop().time() >= self.deadline

    def next_timeout(self) -> float:
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError("the request deadline has passed")
        if self.reached is not None:
            raise BudgetReached(self.reached)
        self.calls += 1
        return min(self.llm_call_timeout, remaining)

    def charge(self, usage: Usage) -> None:
        """Count a finished call's usage; the first time a limit is reached, say so."""
        self.spent.add(usage)
        if self.reached is not None:
            return
        if self.max_tokens is not None and self.spent.total_tokens >= self.max_tokens:
            self.reached = f"token budget ({self.max_tokens:,} tokens)"
        elif self.max_cost_usd is not None and self.spent.cost_usd >= self.max_cost_usd:
            self.reached = f"cost budget (${self.max_cost_usd:g})"
        if self.reached is not None and self.on_reached is not None:
            self.on_reached()

    def fits(self, tokens: int) -> bool:
        """Whether a call of about `tokens` more tokens stays within the budget."""
        if self.reached is not None:
            return False
        if self.max_tokens is not None and self.spent.total_tokens + tokens > self.max_tokens:
            return False
        if self.max_cost_usd is not None and self.spent.total_tokens:
            per_token = self.spent.cost_usd / self.spent.total_tokens
            return self.spent.cost_usd + per_token * tokens <= self.max_cost_usd
        return True


async def call_model(
    provider: Provider, request: ChatRequest, budget: CallBudget, usage: Usage
) -> Completion:
    """One non-streaming call under the budget; usage is added even if the caller fails later.

    This timeout is the call's only timer, for every provider (see the `Provider` contract).
    """
    request.timeout = budget.next_timeout()
    async with asyncio.timeout(request.timeout):
        completion = await provider.complete(request)
    usage.add(completion.usage)
    budget.simulated = budget.simulated or completion.simulated
    budget.charge(completion.usage)
    return completion


@dataclass(slots=True)
class AgentSpec:
    index: int
    question: str
    provider: Provider
    model: str
    system_prompt: str  # the same for every agent of the run (see `opening_messages`)
    temperature: float | None
    tools: list[Tool]
    max_iterations: int
    tool_timeout: float
    instructions: tuple[str, ...] = ()  # this agent's own: its role, its override's prompt
    vision: bool = False  # the model takes images: tools' images are shown to it


def opening_messages(
    spec: AgentSpec, context: str | None, images: Sequence[dict[str, Any]] = ()
) -> list[Message]:
    """The system prompt and first user message of an agent, ordered for prompt caching.

    Every agent of a run shares the system prompt, the context (earlier conversation and
    attached files) and the images; they come first, byte for byte the same, so providers that
    cache prompt prefixes (OpenAI, DeepSeek, vLLM, llama.cpp) reuse them. What is the agent's
    own (its role, its instructions, its sub-question) comes last, after everything shared.
    """
    own = "\n\n".join([*spec.instructions, f"Your sub-question: {spec.question}"])
    if not context and not spec.instructions and not images:
        own = spec.question  # nothing shared but the system prompt: the question alone
    shared = [{"type": "text", "text": context}] if context else []
    if images:  # image parts (attachments) only for models that accept them
        user: str | list[dict[str, Any]] = [*shared, *images, {"type": "text", "text": own}]
    else:
        user = f"{context}\n\n{own}" if context else own
    return [{"role": "system", "content": spec.system_prompt}, {"role": "user", "content": user}]


def _preview(arguments: str, limit: int = 120) -> str:
    text = " ".join(arguments.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _complete_summary(call: ToolCall, fallback: str) -> str:
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        return fallback
    summary = args.get("summary") if isinstance(args, dict) else None
    return summary if isinstance(summary, str) and summary.strip() else fallback


async def run_agent(
    spec: AgentSpec,
    *,
    context: str | None,
    budget: CallBudget,
    tool_ctx: ToolContext,
    emit: Callable[[Event], None],
    summary: AgentSummary,
    images: Sequence[dict[str, Any]] = (),
) -> None:
    """Run one agent to an answer, filling `summary` as it goes (so a timeout keeps the usage)."""
    start = time.monotonic()
    by_name = {t.name: t for t in spec.tools}
    specs = [t.spec() for t in spec.tools] or None
    messages = opening_messages(spec, context, images)
    try:
        for iteration in range(1, spec.max_iterations + 1):
            summary.iterations = iteration
            last = iteration == spec.max_iterations
            request = ChatRequest(
                model=spec.model,
                messages=messages,
                tools=None if last else specs,
                temperature=spec.temperature,
                purpose="agent",
            )
            completion = await call_model(spec.provider, request, budget, summary.usage)
            if not completion.tool_calls:
                summary.answer = completion.content.strip()
                break
            messages.append(completion.as_assistant_message())
            done = next((c for c in completion.tool_calls if c.name == COMPLETE_TOOL), None)
            if done is not None:
                summary.answer = _complete_summary(done, completion.content.strip())
                break
            if budget.reached is not None:  # its tools' results could never be read
                raise BudgetReached(budget.reached)
            cap = tool_ctx.settings.max_calls_per_turn
            run, skipped = completion.tool_calls[:cap], completion.tool_calls[cap:]
            # A TaskGroup: should a tool ever raise, its siblings are cancelled with it.
            async with asyncio.TaskGroup() as group:
                calls = [group.create_task(
                    _run_tool(spec.index, call, by_name, tool_ctx, spec.tool_timeout, emit,
                              summary))
                    for call in run]
            messages.extend(task.result()[0] for task in calls)
            # Every call id needs an answer, or the next request is malformed.
            messages.extend({"role": "tool", "tool_call_id": call.id, "content": (
                f"error: too many tool calls in one turn (at most {cap}); this one was not run"
            )} for call in skipped)
            # A tool message carries text only: images follow as a user turn, for vision models.
            images = [part for task in calls for part in task.result()[1]]
            if images and spec.vision:
                messages.append({"role": "user", "content": [
                    {"type": "text", "text": "The images the tools returned, in order:"},
                    *images]})
        summary.status = "ok" if summary.answer else "failed"
        if not summary.answer:
            summary.error = "the model returned an empty answer"
    finally:
        summary.elapsed_s = time.monotonic() - start


async def _run_tool(
    index: int,
    call: ToolCall,
    tools: dict[str, Tool],
    ctx: ToolContext,
    tool_timeout: float,
    emit: Callable[[Event], None],
    summary: AgentSummary,
) -> tuple[Message, Sequence[dict[str, Any]]]:
    """The tool message for `call`, and the images the tool returned."""
    emit(ToolCalled(index=index, tool=call.name, arguments=_preview(call.arguments)))
    tool = tools.get(call.name)
    timeout = tool.call_timeout if tool is not None and tool.call_timeout else tool_timeout
    res = await execute_tool(tool, call.name, call.arguments, ctx, timeout)
    if res.ok and call.name == "fetch_url" and (page := fetched_source(call.arguments, res.text)):
        summary.fetched.append(page)
    elif res.ok and call.name == "web_search":
        summary.searched.extend(search_results(res.text))
    elif res.extra is not None:  # pages a tool read are sources; pages it found, once cited
        summary.fetched.extend(res.extra.fetched)
        summary.searched.extend(res.extra.found)
    emit(ToolFinished(index=index, tool=call.name, ok=res.ok, elapsed_s=round(res.elapsed_s, 3),
                      summary=_preview(res.text, 100)))
    images = res.extra.images if res.extra is not None else ()
    return {"role": "tool", "tool_call_id": call.id, "content": res.text}, images
