"""A run's agents as Slack task chunks (bots/slack/native/_tasks.py). Pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.native._tasks import changed_chunks, sources_task, task_chunk, task_chunks, urls_in
from heavy_engine.progress import AgentProgress, ProgressState

from ..fake_slack import FakeSlack

WJ = "\u2060"


def agent(**kw: Any) -> AgentProgress:
    return AgentProgress(**{"index": 0, "question": "How fast is SQLite?", **kw})


@pytest.mark.parametrize(("progress", "expected"), [
    # not started: pending, nothing else
    (agent(), {"id": "agent-1", "title": "How fast is SQLite?", "status": "pending"}),
    # running a tool: in progress, the tool in the details
    (agent(status="running", tool="fetch_url", tool_args='{"url": "https://sqlite.org"}'),
     {"status": "in_progress", "details": 'Running fetch_url: {"url": "https://sqlite.org"}'}),
    # finished: complete, with its one-line finding as output
    (agent(index=2, status="ok"), {"id": "agent-3", "status": "complete",
                                   "output": "About 100k writes/s in WAL mode."}),
    # failed: error, the reason in the details
    (agent(status="failed", error="provider said 502"),
     {"status": "error", "details": "provider said 502"}),
    # timed out and stopped say so
    (agent(status="timeout"), {"status": "error", "output": "Timed out"}),
    (agent(status="cancelled"), {"status": "error", "output": "Stopped"}),
    # model text in a title cannot ping
    (agent(question="Ask @here about <!channel>"),
     {"title": f"Ask @{WJ}here about <{WJ}!channel>"}),
])
def test_task_chunk(progress: AgentProgress, expected: dict[str, Any]) -> None:
    chunk = task_chunk(progress, finding="About 100k writes/s in WAL mode.").to_dict()
    assert chunk["type"] == "task_update"
    assert {k: chunk.get(k) for k in expected} == expected


def test_sources_are_urls_deduplicated_and_capped() -> None:
    urls = [f"https://example.org/{i}" for i in range(8)] + ["https://example.org/0"]
    chunk = task_chunk(agent(status="ok"), sources=urls).to_dict()
    assert [s["url"] for s in chunk["sources"]] == urls[:5]
    assert all(s["type"] == "url" and s["text"] for s in chunk["sources"])


@pytest.mark.parametrize(("args", "urls"), [
    ('{"url": "https://a.org/x"}', ["https://a.org/x"]),  # fetch_url's JSON arguments
    ("search for https://b.org/y, then https://c.org.", ["https://b.org/y", "https://c.org"]),
    ("no links here", []),
])
def test_urls_in(args: str, urls: list[str]) -> None:
    assert urls_in(args) == urls


def test_task_chunks_start_with_the_plan_title_then_agents_in_order() -> None:
    state = ProgressState(phase="researching")
    state.agents = {1: agent(index=1, question="B", status="ok"),
                    0: agent(index=0, question="A", status="running")}
    chunks = [c.to_dict() for c in task_chunks(state, findings={1: "done"})]
    assert chunks[0] == {"type": "plan_update", "title": "Researching (1/2 agents finished)"}
    assert [c["id"] for c in chunks[1:]] == ["agent-1", "agent-2"]
    assert chunks[2]["output"] == "done"


def test_the_plan_title_says_comparing_notes_in_words() -> None:
    state = ProgressState(phase="comparing")
    state.agents = {0: agent(index=0, status="ok", revising=True)}
    assert task_chunks(state)[0].to_dict()["title"] == (
        "Comparing notes (1 agent revising) (1/1 agents finished)")


def test_only_changed_tasks_are_sent_again() -> None:
    state = ProgressState(phase="researching")
    state.agents = {0: agent(index=0, question="A"), 1: agent(index=1, question="B")}
    first = task_chunks(state)
    sent = {("plan" if c.to_dict()["type"] == "plan_update" else c.to_dict()["id"]): c.to_dict()
            for c in first}
    state.agents[1].status = "running"
    assert [c.to_dict().get("id") for c in changed_chunks(sent, task_chunks(state))] == [
        "agent-2"]


async def test_the_chunks_go_through_slack_sdks_chat_stream(fake_slack: FakeSlack) -> None:
    """The renderer's output is what slack_sdk's `chat_stream` helper sends in plan mode: one
    task per agent, updated in place, then the synthesis as Markdown."""
    client = AsyncWebClient(token="xoxb-test-never-real", base_url=fake_slack.api_url)
    state = ProgressState(phase="researching")
    state.agents = {0: agent(index=0, question="A", status="running", tool="web_search"),
                    1: agent(index=1, question="B")}
    stream = await client.chat_stream(channel="C1", thread_ts="1.0", recipient_team_id="T1",
                                      recipient_user_id="U1", task_display_mode="plan")
    sent: dict[str, dict[str, Any]] = {}

    async def push(chunks: list[Any]) -> None:
        changed = changed_chunks(sent, chunks)
        await stream.append(chunks=changed)
        sent.update({c.to_dict().get("id", "plan"): c.to_dict() for c in changed})

    await push(task_chunks(state))
    state.agents[0].status, state.agents[1].status = "ok", "failed"
    state.agents[1].error = "timeout talking to the provider"
    await push(task_chunks(state, findings={0: "A is fine."},
                           sources={0: ["https://a.org"]}))
    await stream.stop(markdown_text="**Answer.**")

    [live] = fake_slack.streams.values()
    assert live["task_display_mode"] == "plan" and live["stopped"]
    tasks = [c for c in live["chunks"] if c["type"] == "task_update"]
    assert [(t["id"], t["status"]) for t in tasks] == [
        ("agent-1", "in_progress"), ("agent-2", "pending"),
        ("agent-1", "complete"), ("agent-2", "error")]
    assert tasks[2]["output"] == "A is fine." and tasks[2]["sources"][0]["url"] == "https://a.org"
    assert live["text"].endswith("**Answer.**")


def test_sources_task_is_the_runs_url_sources_element() -> None:
    chunk = sources_task([("Doc <b> @here", "https://a.example/doc"), ("x", "ftp://no")])
    assert chunk is not None
    data = chunk.to_dict()
    assert (data["id"], data["title"], data["status"]) == ("sources", "Sources", "complete")
    # Only http(s) links; titles cannot ping.
    assert data["sources"] == [{"type": "url", "url": "https://a.example/doc",
                                "text": "Doc <b> @\u2060here"}]
    assert sources_task([]) is None
    many = sources_task([(f"T{i}", f"https://e.example/{i}") for i in range(30)])
    assert many is not None and len(many.to_dict()["sources"]) == 10
