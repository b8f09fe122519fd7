"""heavy as an MCP server (the official `mcp` SDK's `MCPServer`): tools `heavy_ask` and
`heavy_job`, the same over stdio (`heavy mcp`) and streamable HTTP (`/mcp` on `heavy serve`).

`heavy_ask` submits a durable job like `POST /api/ask` (same limits and budgets), reports one
MCP progress notification per phase and per agent started/finished, and returns the answer as
text with the sources, the agents' statuses and the usage as structured content. An MCP
cancellation (the SDK cancels the tool's task) cancels the job.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.requests import Request

from ..core import MAX_AGENTS
from ..jobs import Job, JobRunner, JobSpec, storable
from ._callers import ASGI_CALLER, LOCAL, Caller
from ._intake import Refusal, agents_refusal, api_spec
from ._narrate import MILESTONES, narrate

log = logging.getLogger("heavy.mcp")
Submit = Callable[[JobSpec, Caller], Awaitable["Job | Refusal"]]
INSTRUCTIONS = ("heavy answers a question with several research agents and one synthesis. "
                "Call heavy_ask for questions that need research; a run takes a minute or "
                "more. heavy_job looks a run up again by its id.")


class SourceOut(BaseModel):
    url: str
    title: str


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class AgentOut(BaseModel):
    index: int
    question: str
    model: str
    status: str
    elapsed_s: float
    error: str | None = None


class HeavyAnswer(BaseModel):
    """`heavy_ask`'s structured content."""

    job: str
    status: str
    sources: list[SourceOut]
    agents: list[AgentOut]
    usage: UsageOut
    notes: list[str]


class HeavyJob(BaseModel):
    """`heavy_job`'s structured content (`answer` is null until the run ends)."""

    job: str
    status: str
    position: int | None
    question: str
    answer: str | None
    error: str | None
    sources: list[SourceOut]
    agents: list[AgentOut]
    usage: UsageOut | None


def build_mcp_server(runner: JobRunner, submit: Submit,
                     *, user: str = "mcp", channel: str = "api") -> MCPServer:
    """The MCP server; `submit` is the surface's own (the HTTP API's, or the runner's).
    Its jobs are the API's (platform `api`) in `channel`, asked by the caller's name (a named
    token over HTTP), else by `user`."""
    server: MCPServer = MCPServer("heavy", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(title="Ask heavy", read_only_hint=True,
                                             open_world_hint=True))
    async def heavy_ask(
        question: Annotated[str, Field(min_length=1, max_length=100_000,
                                       description="The question to research.")],
        ctx: Context,
        agents: Annotated[int | Literal["auto"] | None, Field(
            description=f"Research agents, 1 to {MAX_AGENTS}, or auto (default: the "
                        "server's setting).")] = None,
        rounds: Annotated[Literal[1, 2] | None, Field(
            description="2: the agents compare notes once before the synthesis.")] = None,
    ) -> Annotated[CallToolResult, HeavyAnswer]:
        """Research a question with several agents in parallel and return one synthesised
        answer with its sources."""
        flags: dict[str, Any] = {}
        if (why := agents_refusal(agents)) is not None:
            raise ToolError(why)
        if agents is not None:
            flags["agents"] = agents
        if rounds is not None:
            flags["rounds"] = rounds
        caller = caller_of(ctx)
        who = caller.name or user
        job = await submit(api_spec(question, who, channel=channel, flags=flags), caller)
        if isinstance(job, Refusal):
            raise ToolError(job.message)
        try:
            await _report(runner, job.id, ctx)
        except BaseException:
            # Cancelled (the client's notifications/cancelled, or it went away): nobody waits
            # for this answer. Shielded: the cancelled scope would cancel the call itself.
            with anyio.CancelScope(shield=True):
                if await runner.cancel(job.id, by=who):
                    log.info("job %s cancelled by its MCP client", job.id)
            raise
        final = await runner.get_job(job.id)
        if final is None or final.result is None or final.status != "done":
            error = (final.error if final else None) or "The run ended without an answer."
            raise ToolError(f"{error} (job {job.id})")
        result = final.result.as_dict()
        answer = HeavyAnswer(job=job.id, status=final.status, sources=result["sources"],
                             agents=result["agents"], usage=result["usage"],
                             notes=result["notes"])
        return CallToolResult(content=[TextContent(type="text", text=result["answer"])],
                              structured_content=storable(answer.model_dump(mode="json")))

    @server.tool(annotations=ToolAnnotations(title="Look up a heavy job", read_only_hint=True,
                                             idempotent_hint=True))
    async def heavy_job(
        id: Annotated[str, Field(min_length=1, max_length=64,
                                 description="The job id heavy_ask returned.")],
        ctx: Context,
    ) -> Annotated[CallToolResult, HeavyJob]:
        """A heavy job's status, and its answer once it is done."""
        job = await runner.get_job(id)
        if job is None or not caller_of(ctx).owns(job):  # a named token sees only its own
            raise ToolError(f"No job with the id {id!r}.")
        r = job.result.as_dict() if job.result is not None else None
        state = HeavyJob(job=job.id, status=job.status,
                         position=job.position if job.status == "queued" else None,
                         question=job.spec.question, answer=r["answer"] if r else None,
                         error=job.error, sources=r["sources"] if r else [],
                         agents=r["agents"] if r else [], usage=r["usage"] if r else None)
        text = state.answer if state.answer else (
            f"Job {job.id} is {job.status}" + (f": {job.error}" if job.error else "."))
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=storable(state.model_dump(mode="json")))

    return server


def caller_of(ctx: Context) -> Caller:
    """Who makes this tool call: over HTTP, the caller `/mcp` identified for the request that
    carried it (in the ASGI scope's state); over stdio, the local user."""
    request = ctx.request_context.request  # the Starlette request; None over stdio
    if isinstance(request, Request):
        caller = request.scope.get("state", {}).get(ASGI_CALLER)
        if isinstance(caller, Caller):
            return caller
    return LOCAL


async def _report(runner: JobRunner, job_id: str, ctx: Context) -> None:
    """Follow the job to its end, one progress notification per phase and agent milestone
    (`total`: planning, each agent's start and finish, the synthesis)."""
    done, total = 0, None
    async for _, kind, data in runner.follow(job_id):
        if kind == "questions_ready":
            total = 2 + 2 * len(data.get("questions", []))
        if kind in MILESTONES and (line := narrate(kind, data)) is not None:
            done += 1
            await ctx.report_progress(done, total, line)
