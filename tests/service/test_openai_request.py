"""Reading an OpenAI chat-completions body into heavy's terms (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine.conversations import DM_HEADER
from heavy_engine.service._openai_request import (
    BadRequest,
    listed_models,
    model_flags,
    parse_chat,
)

USER = {"role": "user", "content": "Why?"}


@pytest.mark.parametrize(("model", "flags"), [
    ("heavy", {}),  # the operator's defaults
    ("heavy-auto", {"agents": "auto"}),  # the planner picks the count
    ("heavy-3", {"agents": 3}),  # any N, listed or not
    ("heavy-16", {"agents": 16}),  # the limit
    ("heavy-17", None),  # past MAX_AGENTS
    ("heavy-0", None),  # no agent at all
    ("heavy-", None),  # nothing after the dash
    ("gpt-4o", None),  # somebody else's model
])
def test_model_ids(model: str, flags: dict[str, Any] | None) -> None:
    assert model_flags(model) == flags


def test_every_listed_model_is_accepted() -> None:
    assert all(model_flags(m) is not None for m in listed_models())


def test_messages_become_question_context_and_instructions() -> None:
    ask = parse_chat({"model": "heavy-2", "temperature": 0.2, "max_completion_tokens": 300,
                      "stream": True, "stream_options": {"include_usage": True}, "user": " ann ",
                      "messages": [
                          {"role": "developer", "content": "Be brief."},
                          {"role": "user", "content": [{"type": "text", "text": "We use Go."}]},
                          {"role": "assistant", "content": "Noted."},
                          {"role": "system", "content": "Cite sources."},
                          {"role": "user", "content": "Which ORM?"}]})
    assert ask.question == "Which ORM?" and ask.stream and ask.include_usage
    assert ask.context == f"{DM_HEADER}\nUser: We use Go.\nheavy: Noted."
    assert ask.flags == {"agents": 2, "instructions": "Be brief.\n\nCite sources.",
                         "synthesis_temperature": 0.2, "synthesis_max_tokens": 300}
    spec = ask.spec()
    assert (spec.platform, spec.channel, spec.user) == ("api", "api", "ann")
    assert spec.context == ask.context and spec.flags == ask.flags


@pytest.mark.parametrize(("body", "param", "status"), [
    ({"tools": [{"type": "function"}]}, "tools", 400),  # heavy's agents have their own
    ({"functions": [{"name": "f"}]}, "functions", 400),  # the legacy spelling
    ({"tool_choice": "auto"}, "tool_choice", 400),  # no tools to choose from
    ({"n": 3}, "n", 400),  # one choice only
    ({"logprobs": True}, "logprobs", 400),  # not available from a synthesis
    ({"audio": {"voice": "alloy"}}, "audio", 400),  # text only
    ({"modalities": ["text", "audio"]}, "modalities", 400),  # text only
    ({"model": "gpt-4o"}, "model", 404),  # unknown model: OpenAI's 404
    ({"model": None}, "model", 400),  # missing model
    ({"temperature": "hot"}, "temperature", 400),  # not a number
    ({"temperature": float("nan")}, "temperature", 400),  # not finite
    ({"max_tokens": 0}, "max_tokens", 400),  # at least one token
    ({"max_tokens": True}, "max_tokens", 400),  # a bool is not a count
    ({"stream": "yes"}, "stream", 400),  # a bool only
    ({"user": ""}, "user", 400),  # empty requester
    ({"messages": []}, "messages", 400),  # nothing asked
    ({"messages": [USER, {"role": "assistant", "content": "x"}]}, "messages", 400),  # last is ours
    ({"messages": [{"role": "tool", "content": "x"}, USER]}, "messages[0].role", 400),  # no tools
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages[0].content[0]", 400),
    ({"messages": ["hi"]}, "messages[0]", 400),  # not an object
    ({"messages": [{"role": "system", "content": "x" * 8001}, USER]}, "messages", 400),  # long
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str, status: int) -> None:
    request = {"model": "heavy", "messages": [USER], **body}
    with pytest.raises(BadRequest) as caught:
        parse_chat(request)
    assert (caught.value.param, caught.value.status) == (param, status)
    assert caught.value.message.startswith(param.split("[")[0])


@pytest.mark.parametrize("harmless", [
    {"top_p": 0.9},  # sampling knobs chat UIs send: ignored, not refused
    {"presence_penalty": 0.1, "frequency_penalty": 0.1, "seed": 1, "stop": ["\n\n"]},
    {"tools": [], "tool_choice": "none", "logprobs": False, "n": 1},  # explicitly off
])
def test_harmless_fields_are_accepted(harmless: dict[str, Any]) -> None:
    assert parse_chat({"model": "heavy", "messages": [USER], **harmless}).question == "Why?"
