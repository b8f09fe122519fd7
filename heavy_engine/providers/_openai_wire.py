"""The OpenAI chat-completions dialect: request bodies, replies, stream chunks, error texts.

Pure functions over plain dicts (no pydantic): they run on every LLM call, so each does one pass
and builds no object it does not return. Bodies and replies go through orjson (encoding a body
was 8% of the engine's CPU at 1,000 concurrent questions with the standard library).
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from ..core import ChatRequest, Completion, Message, ToolCall, Usage
from ..observability import MASK, redact

_JSON_MODE = {"type": "json_object"}
_STREAM_OPTIONS = {"include_usage": True}
_OPENROUTER_USAGE = {"include": True}
# What a reply of the wrong shape raises on the way in (a string where an object belongs, a
# token count that is not a number): it is an unreadable reply like any other, never a crash.
_SHAPE_ERRORS = (AttributeError, TypeError, ValueError)


def _clean(message: Message) -> Message:
    """Drop `tool_calls: null` / `[]`: some providers reject the key when it is empty."""
    if "tool_calls" in message and not message["tool_calls"]:
        return {k: v for k, v in message.items() if k != "tool_calls"}
    return message


def optional_fields(request: ChatRequest) -> frozenset[str]:
    """The request fields some servers refuse (see `refused_field`) that this request uses."""
    fields = {"tools"} if request.tools else set()
    if request.json_mode:
        fields.add("response_format")
    return frozenset(fields)


def encode_body(
    request: ChatRequest, *, stream: bool, openrouter: bool, omit: frozenset[str] = frozenset()
) -> bytes:
    """The JSON body, serialised once. No `tools` key without tools, never `tools: []`;
    nothing named in `omit` (fields the server refused: `tools`, `response_format`)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_clean(m) for m in request.messages],
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.tools and "tools" not in omit:
        body["tools"] = request.tools
    if request.json_mode and "response_format" not in omit:
        body["response_format"] = _JSON_MODE
    if stream:
        body["stream"] = True
        body["stream_options"] = _STREAM_OPTIONS
    if openrouter:
        body["usage"] = _OPENROUTER_USAGE  # ask OpenRouter for token and cost accounting
    try:
        return orjson.dumps(body)  # ~5x faster than json.dumps: this runs on every LLM call
    except orjson.JSONEncodeError:
        # A lone surrogate (a JSON escape in a chat message decodes to one) is not UTF-8:
        # send "?" in its place rather than fail the call.
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")


def parse_usage(raw: Any) -> Usage:
    """Real token counts and the provider's cost (OpenRouter `cost`), never estimates; the
    prompt tokens served from the provider's cache (`prompt_tokens_details.cached_tokens`)."""
    if not isinstance(raw, dict):
        return Usage(calls=1)
    details = raw.get("prompt_tokens_details")
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cost_usd=float(raw.get("cost") or 0.0),
        calls=1,
        cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


def _text(content: Any) -> str:
    """Message text: a string, or the `text` parts of a list (some servers send typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return "".join(t for t in texts if isinstance(t, str))
    return "" if content is None else str(content)


_THINK, _THOUGHT = "<think>", "</think>"


def strip_reasoning(text: str) -> str:
    """The answer without a leading `<think>...</think>` block, which reasoning models served
    without a reasoning parser (llama.cpp, vLLM, Ollama) put in `content`. An unclosed block
    (the reply was cut off while thinking) is all reasoning: nothing is left."""
    start = len(text) - len(text.lstrip())
    if not text.startswith(_THINK, start):
        return text
    end = text.find(_THOUGHT, start)
    return "" if end < 0 else text[end + len(_THOUGHT):].lstrip()


class _Reasoning:
    """`strip_reasoning` for a stream: holds text back while it is (or may become) a leading
    `<think>` block, then lets everything after `</think>` through."""

    __slots__ = ("held", "state")

    def __init__(self) -> None:
        self.held = ""
        self.state = "start"  # start -> thinking -> answer, or start -> answer

    def visible(self, text: str) -> str:
        if self.state == "answer":
            return text
        self.held += text
        if self.state == "start":
            head = self.held.lstrip()
            if len(head) < len(_THINK) and _THINK.startswith(head):
                return ""  # nothing yet, or the tag may still be arriving
            if not head.startswith(_THINK):
                self.state, out, self.held = "answer", self.held, ""
                return out
            self.state = "thinking"
        end = self.held.find(_THOUGHT)
        if end < 0:
            return ""
        self.state, out, self.held = "answer", self.held[end + len(_THOUGHT):].lstrip(), ""
        return out


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value or "{}"
    return json.dumps(value) if value is not None else "{}"


def parse_tool_calls(raw: Any) -> list[ToolCall]:
    if not raw:
        return []
    out = []
    for i, part in enumerate(raw):
        fn = part.get("function") or {}
        out.append(ToolCall(id=str(part.get("id") or f"call_{i}"), name=str(fn.get("name") or ""),
                            arguments=_arguments(fn.get("arguments"))))
    return out


class BadReply(Exception):
    """The body is not a usable completion (garbage, or an error object inside a 200)."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


def error_in_body(data: dict[str, Any]) -> BadReply | None:
    """OpenRouter reports some upstream failures as `{"error": ...}` with HTTP 200."""
    err = data.get("error")
    if not err:
        return None
    code = err.get("code") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else err
    return BadReply(str(message), code if isinstance(code, int) else None)


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        pass
    try:  # what orjson refuses and the standard library reads: an escaped lone surrogate
        return json.loads(raw)
    except (ValueError, RecursionError):  # nesting past the recursion limit is not JSON we take
        raise BadReply(f"{what} is not JSON") from None


def parse_completion(raw: bytes, model: str) -> Completion:
    """A non-streaming reply; raises `BadReply` when it is not one."""
    data = _json(raw, "the reply")
    if not isinstance(data, dict):
        raise BadReply("the reply is not a JSON object")
    if (err := error_in_body(data)) is not None:
        raise err
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise BadReply("the reply has no choices") from None
    try:
        return Completion(
            content=strip_reasoning(_text(message.get("content"))),
            tool_calls=parse_tool_calls(message.get("tool_calls")),
            usage=parse_usage(data.get("usage")),
            model=str(data.get("model") or model),
            finish_reason=choice.get("finish_reason"),
        )
    except _SHAPE_ERRORS as err:
        raise BadReply(f"the reply has an unexpected shape ({type(err).__name__})") from None


class StreamState:
    """Accumulates one streamed reply: text, tool calls reassembled by `index`, usage."""

    __slots__ = ("calls", "done", "finish_reason", "model", "parts", "reasoning", "usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self.parts: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index -> [id, name, argument fragments...]
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.done = False  # saw `data: [DONE]`
        self.reasoning = _Reasoning()

    def feed(self, payload: str | bytes) -> str | None:
        """Take one `data:` payload; returns the text delta it carried, if any."""
        chunk = _json(payload, "a stream chunk")
        if not isinstance(chunk, dict):
            raise BadReply("a stream chunk is not a JSON object")
        if (err := error_in_body(chunk)) is not None:
            raise err
        try:
            return self._take(chunk)
        except _SHAPE_ERRORS as err:
            raise BadReply(f"a stream chunk has an unexpected shape ({type(err).__name__})") from None

    def _take(self, chunk: dict[str, Any]) -> str | None:
        if chunk.get("usage"):
            self.usage = parse_usage(chunk["usage"])
        if chunk.get("model"):
            self.model = chunk["model"]
        choices = chunk.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") or {}
        for part in delta.get("tool_calls") or ():
            slot = self.calls.setdefault(int(part.get("index") or 0), ["", ""])
            if part.get("id"):
                slot[0] = part["id"]
            fn = part.get("function") or {}
            if fn.get("name"):
                slot[1] += fn["name"]
            if fn.get("arguments"):
                slot.append(_arguments(fn["arguments"]))
        text = self.reasoning.visible(_text(delta.get("content")))
        if text:
            self.parts.append(text)
            return text
        return None

    def completion(self) -> Completion:
        calls = [
            ToolCall(id=slot[0] or f"call_{i}", name=slot[1], arguments="".join(slot[2:]) or "{}")
            for i, slot in sorted(self.calls.items())
        ]
        if self.reasoning.state == "start" and self.reasoning.held:  # a short "<" answer
            self.parts.append(self.reasoning.held)
        return Completion(content="".join(self.parts), tool_calls=calls,
                          usage=self.usage if self.usage is not None else Usage(calls=1),
                          model=self.model,
                          finish_reason=self.finish_reason)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_body(raw: bytes) -> tuple[str, Any]:
    """The start of an error body as text, and its `error` member (the whole object when it has
    none) if it is a JSON object, else None."""
    text = raw[:4000].decode(errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    return text, data.get("error", data) if isinstance(data, dict) else None


# How servers word a refusal of an optional field (the fake's `testing._quirks.REFUSALS`):
# vLLM without tool parsing: '"auto" tool choice requires --enable-auto-tool-choice ...';
# Ollama: '<model> does not support tools'; LM Studio: "'response_format.type' must be
# 'json_schema'"; OpenAI: "'response_format' of type 'json_object' is not supported ...".
_REFUSAL_WORDS = {"response_format": ("response_format", "json_object", "json mode"),
                  "tools": ("tool",)}


def refused_field(raw: bytes, sent: frozenset[str]) -> str | None:
    """Which of the optional fields `sent` a 400 error body refuses (`tools` also stands for
    `tool_choice`), else None: the request is bad for another reason."""
    text, err = _error_body(raw)
    if isinstance(err, dict):
        text = f"{err.get('param') or ''} {err.get('message') or ''}"
    elif isinstance(err, str):
        text = err
    text = text.lower()
    for name in ("response_format", "tools"):
        if name in sent and any(word in text for word in _REFUSAL_WORDS[name]):
            return name
    return None


def provider_message(raw: bytes, secrets: tuple[str, ...] = ()) -> str:
    """A short, secret-free summary of an error body for people to read."""
    text, err = _error_body(raw)
    found = err.get("message") if isinstance(err, dict) else err
    text = found if isinstance(found, str) else text
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = redact(" ".join(text.split()))  # the one secret scrubber, as for log lines
    return text[:200] + ("…" if len(text) > 200 else "")
