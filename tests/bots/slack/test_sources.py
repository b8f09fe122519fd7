"""Scenario: an answer's sources end it natively on Slack: a compact "Sources" context block
with links (the answer's own Markdown Sources list is left out, not shown twice)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.slack._markdown import sources_block
from heavy_engine import Engine
from heavy_engine.testing import FakeLLM, fake_config, text_reply, tool_call_reply
from heavy_engine.tools import ToolRegistry
from tests.engine.core.test_heavier import FakeFetch

from .conftest import MakeSlack
from .test_mentions import MENTION_TS, mention


@pytest.fixture
async def fetch_engine(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Engine]:
    tools = ToolRegistry()
    tools.register(FakeFetch())
    async with Engine(fake_config(fake_llm.base_url), tools=tools,
                      scratch_root=tmp_path / "scratch") as engine:
        yield engine


async def test_the_answer_ends_with_its_sources_as_links(
    make_slack: MakeSlack, fake_llm: FakeLLM, fetch_engine: Engine
) -> None:
    config = fake_config(fake_llm.base_url, agents=2, tools=["fetch_url"])
    slack = await make_slack(config, engine=fetch_engine)
    fake_llm.enqueue(json.dumps({"questions": ["What does the doc say?", "What follows from it?"]}), when="decompose")
    fake_llm.enqueue(tool_call_reply(("fetch_url", {"url": "https://a.example/doc"})),
                     text_reply("It is 42."), text_reply("Also 42."), when="agent")
    fake_llm.enqueue(text_reply("The answer is 42, see https://a.example/doc."),
                     when="synthesis")
    await slack.event(mention())
    await slack.settle()
    _card, answer = slack.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    final = [answer, *slack.fake.called("chat.update", ts=answer.ts)][-1].args
    types = [b["type"] for b in final["blocks"]]
    # answer, footer, sources, Regenerate / Go deeper, feedback
    assert types == ["markdown", "context", "context", "actions", "context_actions"]
    shown = slack.fake.shown(final)
    assert "The answer is 42" in shown and "**Sources**" not in shown  # not listed twice
    sources = final["blocks"][2]
    assert sources["block_id"] == "heavy_sources"
    assert sources["elements"][0]["text"] == "*Sources:* 1. <https://a.example/doc|Doc A>"


def test_sources_block_keeps_links_whole_and_untrusted_titles_inert() -> None:
    block = sources_block([("A <b>|c @here", "https://x.example/a|b>c"),
                           ("Not a link", "javascript:alert(1)")])
    assert block is not None
    text = block["elements"][0]["text"]
    assert text == ("*Sources:* 1. <https://x.example/a%7Cb%3Ec|A &lt;b&gt;¦c @\u2060here> · "
                    "2. Not a link")
    assert sources_block([]) is None
    many = sources_block([(f"T{i} " + "x" * 90, f"https://e.example/{i}") for i in range(40)])
    assert many is not None and len(many["elements"][0]["text"]) <= 3000
