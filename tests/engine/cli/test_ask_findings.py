"""`heavy ask --json` shows what each agent found; a reply that is only reasoning fails its agent."""

from __future__ import annotations

import json

import pytest

from heavy_engine.testing import FakeLLM, text_reply

from .helpers import heavy


async def test_json_gives_each_agents_finding(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = ["How fast is PostgreSQL?", "How fast is MySQL?"]
    llm_env.enqueue(json.dumps({"questions": questions}), when="decompose")
    # A reasoning model served without a reasoning parser: its thoughts come first in `content`.
    llm_env.enqueue(text_reply("<think>The user wants numbers.</think>\n\nAbout 10k writes/s."),
                    text_reply("Similar, about 9k writes/s."), when="agent")
    assert await heavy("ask", "--json", "--agents", "2", "Which?") == 0
    agents = json.loads(capsys.readouterr().out)["agents"]
    assert [a["question"] for a in agents] == questions
    assert sorted(a["answer"] for a in agents) == ["About 10k writes/s.",
                                                   "Similar, about 9k writes/s."]
    assert all(a["status"] == "ok" and a["error"] is None for a in agents)


@pytest.mark.parametrize("reply", [
    "",  # nothing at all
    "<think>Let me think about databases for a while.</think>",  # reasoning and nothing else
    "  <think>Cut off while still thinking",  # the reply ended inside the reasoning
])
async def test_an_empty_or_reasoning_only_finding_fails_the_agent(
    llm_env: FakeLLM, capsys: pytest.CaptureFixture[str], reply: str
) -> None:
    llm_env.enqueue(json.dumps({"questions": ["How fast is PostgreSQL?", "How fast is MySQL?"]}),
                    when="decompose")
    llm_env.enqueue(text_reply(reply), text_reply("About 10k writes/s."), when="agent")
    assert await heavy("ask", "--json", "--agents", "2", "Which?") == 0
    out = json.loads(capsys.readouterr().out)
    failed = [a for a in out["agents"] if a["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["answer"] == ""
    assert failed[0]["error"] == "the model returned an empty answer"
    assert "think" not in json.dumps(out)
    assert any("1 of 2 agents did not finish" in n for n in out["notes"])
