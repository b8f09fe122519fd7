"""Reasoning models served without a reasoning parser: `<think>` blocks never reach an answer."""

from __future__ import annotations

import json

import pytest

from heavy_engine.providers import StreamState
from heavy_engine.providers._openai_wire import parse_completion, strip_reasoning


@pytest.mark.parametrize(("content", "answer"), [
    ("<think>hmm</think>\n\nParis.", "Paris."),  # reasoning, then the answer
    ("\n<think>a\nb</think>Paris.", "Paris."),  # whitespace before, no gap after
    ("<think>only thinking</think>", ""),  # reasoning and nothing else: empty
    ("<think>cut off mid-thought", ""),  # unclosed: the reply ended while thinking
    ("Paris.", "Paris."),  # no reasoning
    ("Paris. <think>late</think>", "Paris. <think>late</think>"),  # only a leading block goes
    ("Use the <think> tag like this.", "Use the <think> tag like this."),  # not at the start
])
def test_strip_reasoning(content: str, answer: str) -> None:
    assert strip_reasoning(content) == answer


def test_a_whole_reply_loses_its_reasoning() -> None:
    raw = json.dumps({"model": "m", "choices": [{"message": {
        "content": "<think>x</think>\n\nParis."}, "finish_reason": "stop"}]}).encode()
    assert parse_completion(raw, "m").content == "Paris."


def _chunk(text: str) -> bytes:
    return json.dumps({"choices": [{"delta": {"content": text}}]}).encode()


@pytest.mark.parametrize(("pieces", "deltas"), [
    # the tags split across chunks, as servers stream token by token
    (["<th", "ink>The user", " asks.</thi", "nk>\n\nPar", "is."], ["Par", "is."]),
    (["  ", "<think>", "x", "</think>", "Paris."], ["Paris."]),  # blank first chunk held back
    (["<think>only thinking", "</think>"], []),  # nothing but reasoning: no text at all
    (["Par", "is."], ["Par", "is."]),  # no reasoning: streamed as it comes
    (["<", "b>Paris</b>"], ["<b>Paris</b>"]),  # a tag that is not <think> is let through
])
def test_a_stream_holds_back_its_reasoning(pieces: list[str], deltas: list[str]) -> None:
    state = StreamState("m")
    out = [d for d in (state.feed(_chunk(p)) for p in pieces) if d]
    assert out == deltas
    assert state.completion().content == "".join(deltas)


def test_a_stream_that_is_only_a_short_prefix_keeps_it() -> None:
    state = StreamState("m")
    assert state.feed(_chunk("<")) is None  # might be the start of <think>
    assert state.completion().content == "<"  # it was the whole answer after all
