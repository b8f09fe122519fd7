"""What real OpenAI-compatible servers do that the fake imitates on request: refuse a field
with their own 400 body, and report prompt tokens served from a prefix cache."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

# Real 400 bodies of servers that do not take a request field (as their users reported them),
# by name: (field, body). `{model}` is the request's model. `tools` covers `tool_choice`, which
# vLLM refuses as "auto" whenever tools are sent without it.
REFUSALS: dict[str, tuple[str, dict[str, Any]]] = {
    "vllm-tools": ("tools", {  # vLLM started without --enable-auto-tool-choice
        "object": "error", "type": "BadRequestError", "param": None, "code": 400,
        "message": '"auto" tool choice requires --enable-auto-tool-choice and '
                   "--tool-call-parser to be set"}),
    "ollama-tools": ("tools", {  # an Ollama model whose template has no tool support
        "error": {"message": "{model} does not support tools", "type": "api_error",
                  "param": None, "code": None}}),
    "lmstudio-json": ("response_format", {  # LM Studio takes json_schema only
        "error": "'response_format.type' must be 'json_schema'"}),
    "openai-json": ("response_format", {  # an OpenAI model without JSON mode
        "error": {"message": "Invalid parameter: 'response_format' of type 'json_object' is "
                             "not supported with this model.",
                  "type": "invalid_request_error", "param": "response_format", "code": None}}),
}


def refusal(body: dict[str, Any], refuse: list[tuple[str, dict[str, Any]]]) -> bytes | None:
    """The 400 body of the first refusal in `refuse` whose field `body` carries, else None."""
    for field_name, error in refuse:
        sent = ("tools" in body or "tool_choice" in body) if field_name == "tools" else (
            field_name in body)
        if sent:
            return json.dumps(error).replace("{model}", str(body.get("model"))).encode()
    return None


def shared_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` have in common."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))



def with_cached_tokens(usage: dict[str, Any], body: dict[str, Any],
                       seen: deque[str]) -> dict[str, Any]:
    """`usage` with the cached part of the prompt, as a provider with prefix caching reports
    it: the longest prefix the serialised messages share with one of the `seen` prompts (the
    model's latest), at 4 characters a token. The prompt joins `seen`."""
    prompt = json.dumps(body.get("messages") or [], ensure_ascii=False)
    shared = max((shared_prefix(prompt, earlier) for earlier in seen), default=0)
    seen.append(prompt)
    cached = min(shared // 4, usage["prompt_tokens"])
    return {**usage, "prompt_tokens_details": {"cached_tokens": cached}}
