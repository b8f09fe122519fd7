"""Plain data passed between the orchestrator, agents and providers.

Messages stay OpenAI-shaped dicts (`{"role": ..., "content": ...}`): every provider speaks that
dialect or translates it at its own edge, and dicts cost nothing to pass around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Message = dict[str, Any]
Purpose = Literal["decompose", "agent", "synthesis"]


@dataclass(slots=True)
class Usage:
    """Real token counts and cost as reported by providers, summed over calls.

    `cached_tokens` are the part of `prompt_tokens` the provider served from its prompt cache
    (`usage.prompt_tokens_details.cached_tokens`), billed at a discount that `cost_usd` already
    reflects when the provider reports cost.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    cached_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self.calls += other.calls
        self.cached_tokens += other.cached_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(slots=True, frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it

    def as_message_part(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(slots=True)
class ChatRequest:
    """One LLM call. `tools` is None when the agent has none (never an empty list on the wire)."""

    model: str
    messages: list[Message]
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    max_tokens: int | None = None  # the answer's length cap (None: the model's own)
    json_mode: bool = False
    timeout: float = 60.0
    purpose: Purpose = "agent"


@dataclass(slots=True)
class Completion:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None
    simulated: bool = False

    def as_assistant_message(self) -> Message:
        """The assistant turn to append to history; no `tool_calls` key when there are none."""
        msg: Message = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [c.as_message_part() for c in self.tool_calls]
        return msg
