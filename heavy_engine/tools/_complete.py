"""`mark_task_complete`: lets an agent end its loop explicitly with a summary."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ._base import Tool, ToolContext

COMPLETE_TOOL = "mark_task_complete"


class _Params(BaseModel):
    summary: str = Field(description="Your final answer to the sub-question, in Markdown.")


class MarkTaskComplete(Tool):
    name = COMPLETE_TOOL
    description = (
        "Call this when you have finished: pass your final answer as `summary`. "
        "Answering without calling any tool also ends your work."
    )
    Params = _Params

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        # The agent loop ends on this call itself; running it only echoes the summary.
        return params.summary
