"""An OpenAI `POST /v1/chat/completions` body read into heavy's terms (pure, no I/O).

The last user message is the question; earlier user and assistant messages become the
conversation context (bounded like a DM's memory, `conversations.dm_context`); system and
developer messages become the asker's instructions to the synthesis; `temperature` and
`max_tokens` (or `max_completion_tokens`) apply to the synthesis. The model id picks a preset:
`heavy` is the operator's defaults, `heavy-N` asks N agents, `heavy-auto` lets the
decomposition choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..conversations import ChatMessage, dm_context
from ..core import MAX_AGENTS
from ..jobs import JobSpec
from ._callers import LOCAL, Caller
from ._intake import api_spec, not_unicode, user_refusal

DEFAULT_MODEL = "heavy"
LISTED_AGENT_COUNTS = (1, 2, 4, 8, 16)  # `heavy-N` ids GET /v1/models lists (any N works)
# Fields whose meaning heavy cannot honour: refused, naming the field, rather than ignored.
_REFUSED = {
    "tools": "tools are not supported: heavy's agents use their own tools",
    "functions": "functions are not supported: heavy's agents use their own tools",
    "function_call": "function calling is not supported",
    "tool_choice": "tool choice is not supported: heavy's agents use their own tools",
    "logprobs": "logprobs are not supported",
    "top_logprobs": "logprobs are not supported",
    "audio": "audio output is not supported",
    "prediction": "predicted outputs are not supported",
}
_INSTRUCTION_ROLES = ("system", "developer")
_MAX_INSTRUCTIONS = 8000  # `synthesis.instructions`' own bound


class BadRequest(Exception):
    """A 400 (or 404 for an unknown model) in OpenAI's shape, naming the field."""

    def __init__(self, message: str, param: str | None, *, code: str | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


@dataclass(slots=True)
class ChatAsk:
    model: str
    question: str
    context: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    user: str | None = None  # as sent: the caller decides who asks (`Caller.user`)

    def spec(self, caller: Caller = LOCAL) -> JobSpec:
        """The job: asked like `POST /api/ask` (same platform and channel, so same limits), as
        the caller's user; BadRequest when `user` is not a named token's own name."""
        try:
            user = caller.user(self.user)
        except ValueError as err:
            raise BadRequest(str(err), "user") from None
        return api_spec(self.question, user, context=self.context, flags=self.flags)


def listed_models() -> list[str]:
    return [DEFAULT_MODEL, f"{DEFAULT_MODEL}-auto",
            *(f"{DEFAULT_MODEL}-{n}" for n in LISTED_AGENT_COUNTS if n <= MAX_AGENTS)]


def model_flags(model: str) -> dict[str, Any] | None:
    """The per-request settings a model id stands for; None for an unknown id."""
    if model == DEFAULT_MODEL:
        return {}
    prefix = f"{DEFAULT_MODEL}-"
    if not model.startswith(prefix):
        return None
    rest = model[len(prefix):]
    if rest == "auto":
        return {"agents": "auto"}
    if rest.isdigit() and len(rest) <= 3 and 1 <= int(rest) <= MAX_AGENTS:
        return {"agents": int(rest)}
    return None


def parse_chat(body: Any) -> ChatAsk:
    """The request in heavy's terms, or `BadRequest` naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object with `model` and `messages`.", None)
    for name, why in _REFUSED.items():
        if body.get(name) not in (None, False, [], "none"):
            raise BadRequest(f"{name}: {why}.", name, code="unsupported_parameter")
    n = body.get("n")
    if n is not None and n != 1:
        raise BadRequest("n: only one choice per request is supported (n = 1).", "n",
                         code="unsupported_parameter")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        raise BadRequest("modalities: only text is supported.", "modalities",
                         code="unsupported_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required: use `heavy` (see GET /v1/models).", "model")
    flags = model_flags(model)
    if flags is None:
        raise BadRequest(f"model: `{model[:100]}` does not exist; the models are "
                         f"{', '.join(listed_models())} (heavy-N for N agents, 1 to "
                         f"{MAX_AGENTS}).", "model", code="model_not_found", status=404)
    question, context, instructions = _messages(body.get("messages"))
    if instructions:
        flags["instructions"] = instructions
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
                math.isfinite(temperature) and 0 <= temperature <= 2):
            raise BadRequest("temperature must be a number from 0 to 2.", "temperature")
        flags["synthesis_temperature"] = float(temperature)
    for name in ("max_completion_tokens", "max_tokens"):
        limit = body.get(name)
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
            raise BadRequest(f"{name} must be a whole number from 1 to 1000000.", name)
        flags["synthesis_max_tokens"] = limit
        break
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise BadRequest("stream must be true or false.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("stream_options must be an object.", "stream_options")
    user = body.get("user")
    if (wrong := user_refusal(user)) is not None:
        raise BadRequest(wrong, "user")
    return ChatAsk(model=model, question=question, context=context, flags=flags,
                   stream=bool(stream), include_usage=bool((options or {}).get("include_usage")),
                   user=user.strip() if user else None)


def _messages(messages: Any) -> tuple[str, str | None, str | None]:
    """(question, context, instructions) from `messages`."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list ending with the user's question.",
                         "messages")
    instructions: list[str] = []
    history: list[ChatMessage] = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{param} must be an object with `role` and `content`.", param)
        role = message.get("role")
        text = _text(message.get("content"), f"{param}.content")
        if role in _INSTRUCTION_ROLES:
            instructions.append(text)
        elif role in ("user", "assistant"):
            history.append(ChatMessage(text, str(i), is_bot=role == "assistant"))
        else:
            raise BadRequest(f"{param}.role: {str(role)[:40]!r} is not supported (system, "
                             "developer, user or assistant).", f"{param}.role")
    if not history or history[-1].is_bot or not history[-1].text.strip():
        raise BadRequest("messages: the last message must be the user's question.", "messages")
    question = history[-1].text
    joined = "\n\n".join(t.strip() for t in instructions if t.strip())
    if len(joined) > _MAX_INSTRUCTIONS:
        raise BadRequest(f"messages: the system messages are {len(joined):,} characters long; "
                         f"the limit is {_MAX_INSTRUCTIONS:,}.", "messages")
    return question, dm_context(history[:-1]), joined or None


def _text(content: Any, param: str) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise BadRequest(f"{param}[{j}]: only text parts are supported (got "
                                 f"{str(kind)[:40]!r}).", f"{param}[{j}]",
                                 code="unsupported_parameter")
            parts.append(part["text"])
        text = "\n".join(parts)
    elif content is None:
        text = ""
    else:
        raise BadRequest(f"{param} must be a string or a list of text parts.", param)
    if not_unicode(text):
        raise BadRequest(f"{param} is not valid Unicode: it holds a lone surrogate.", param)
    return text

