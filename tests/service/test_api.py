"""The HTTP API through a real aiohttp server: auth, bad input, jobs, cancel, SSE, metrics."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from heavy_engine.service import READY, Api
from heavy_engine.service._intake import Refusal
from heavy_engine.testing import FakeLLM, hang_reply
from tests.jobs.conftest import Client, MakeClient

TOKEN = "s3cret-api-token"


async def _wait_done(client: Client, job_id: str, within: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            body = await (await client.get(f"/api/jobs/{job_id}")).json()
            if body["status"] in ("done", "failed", "cancelled"):
                return dict(body)
            await asyncio.sleep(0.02)


async def test_ask_then_read_the_job(make_client: MakeClient) -> None:
    client, _ = await make_client()
    resp = await client.post("/api/ask", json={"question": "Why is the sky blue?", "agents": 3})
    assert resp.status == 202
    created = await resp.json()
    assert created["url"] == f"/api/jobs/{created['id']}"
    job = await _wait_done(client, created["id"])
    assert job["status"] == "done" and job["platform"] == "api"
    assert "Answer" in job["answer"] and job["error"] is None
    assert len(job["agents"]) == 3 and job["agents"][0]["status"] == "ok"
    assert job["usage"]["prompt_tokens"] > 0 and job["llm_calls"] >= 5
    assert job["created_at"] and job["started_at"] and job["finished_at"]
    assert job["sources"] == []  # no tool here returned a URL


async def test_the_job_view_reports_cached_prompt_tokens(
    make_client: MakeClient, fake: FakeLLM
) -> None:
    fake.cache_prompts = True  # agents share their prompt's prefix: the second one hits it
    client, _ = await make_client()
    resp = await client.post("/api/ask", json={"question": "Why is the sky blue?"})
    job = await _wait_done(client, (await resp.json())["id"])
    usage = job["usage"]
    assert job["status"] == "done" and 0 < usage["cached_tokens"] <= usage["prompt_tokens"]
    assert sum(a["usage"]["cached_tokens"] for a in job["agents"]) <= usage["cached_tokens"]


async def test_healthz_is_ready_only_after_start(make_client: MakeClient) -> None:
    client, runner = await make_client()
    assert (await client.get("/healthz")).status == 200
    client.server.app[READY].ready = False
    assert (await client.get("/healthz")).status == 503
    client.server.app[READY].ready = True
    runner.stop_intake()
    assert (await client.get("/healthz")).status == 503


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),  # no header at all
    ({"Authorization": "Bearer wrong-token"}, 401),  # wrong token
    ({"Authorization": f"Basic {TOKEN}"}, 401),  # right secret, wrong scheme
    ({"Authorization": f"Bearer {TOKEN}"}, 202),  # the token
    ({"Authorization": f"bearer  {TOKEN}"}, 202),  # scheme is case-insensitive
])
async def test_a_token_is_required_when_set(
    make_client: MakeClient, headers: dict[str, str], status: int
) -> None:
    client, _ = await make_client(token=TOKEN)
    resp = await client.post("/api/ask", json={"question": "hi there"}, headers=headers)
    assert resp.status == status
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/api/jobs/x", headers=headers)).status == 401
        assert (await client.delete("/api/jobs/x", headers=headers)).status == 401


def _refusal(request: web.Request) -> Refusal | None:
    """Why an API without a token refuses `request` (None: it is served)."""
    caller = Api(mock.Mock(), token=None).caller(request)
    return caller if isinstance(caller, Refusal) else None


@pytest.mark.parametrize(("peer", "allowed"), [
    ("127.0.0.1", True),  # IPv4 loopback
    ("::1", True),  # IPv6 loopback
    ("10.1.2.3", False),  # a private address is still not this machine
    ("192.168.1.20", False),  # a neighbour on the LAN
])
def test_without_a_token_only_loopback_clients_are_served(peer: str, allowed: bool) -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda k, d=None: (peer, 5555) if k == "peername" else d
    request = make_mocked_request("POST", "/api/ask", transport=transport)
    refused = _refusal(request)
    assert (refused is None) is allowed
    if refused is not None:
        assert refused.status == 403


@pytest.mark.parametrize("header", [
    {"X-Forwarded-For": "203.0.113.9"},  # nginx, Caddy, most proxies
    {"Forwarded": "for=203.0.113.9;proto=https"},  # RFC 7239
    {"X-Real-IP": "203.0.113.9"},  # nginx's other habit
])
def test_without_a_token_a_proxied_request_is_not_local(header: dict[str, str]) -> None:
    # A reverse proxy on the same machine connects from 127.0.0.1 on behalf of anyone.
    transport = mock.Mock()
    transport.get_extra_info.side_effect = (
        lambda k, d=None: ("127.0.0.1", 5555) if k == "peername" else d)
    request = make_mocked_request("POST", "/api/ask", headers=header, transport=transport)
    refused = _refusal(request)
    assert refused is not None and refused.status == 403


async def test_ask_with_rounds_two_runs_the_compare_notes_round(
    make_client: MakeClient, fake: FakeLLM
) -> None:
    client, _ = await make_client()
    resp = await client.post("/api/ask", json={"question": "Why is the sky blue?", "agents": 2,
                                               "rounds": 2})
    assert resp.status == 202
    job = await _wait_done(client, (await resp.json())["id"])
    assert job["status"] == "done"
    # 1 decomposition + 2 agents (a tool call each: 2 calls) + 2 revisions + 1 synthesis
    assert job["llm_calls"] == 8


async def test_ask_with_agents_auto_is_accepted(make_client: MakeClient) -> None:
    client, _ = await make_client()
    resp = await client.post("/api/ask", json={"question": "Why is the sky blue?",
                                               "agents": "auto"})
    assert resp.status == 202
    job = await _wait_done(client, (await resp.json())["id"])
    assert job["status"] == "done" and len(job["agents"]) >= 1


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "The body must be JSON"),  # not JSON at all
    (b"[1, 2]", "must be a JSON object"),  # JSON, but not an object
    (b"{}", "question is required"),  # no question
    (b'{"question": 42}', "question is required and must be a string"),  # wrong type
    (b'{"question": "   "}', "question is empty"),  # blank after stripping
    (json.dumps({"question": "x" * 9000}).encode(),
     "The question is 9000 characters long; the limit is 8000"),  # over max_question_chars
    (b'{"question": "hi", "agents": 0}', "agents must be a whole number from 1 to 16"),
    (b'{"question": "hi", "agents": "4"}', "agents must be a whole number"),  # a string
    (b'{"question": "hi", "agents": true}', "agents must be a whole number"),  # bool is no int
    (b'{"question": "hi", "agents": "many"}', 'or "auto"'),  # the one word it takes
    (b'{"question": "hi", "rounds": 3}', "rounds must be 1 or 2"),
    (b'{"question": "hi", "rounds": true}', "rounds must be 1 or 2"),
    (b'{"question": "hi", "model": "x"}', "Unknown field(s): model"),  # not offered by the API
    (b'{"question": "hi", "user": ""}', "user must be a non-empty string"),
    (json.dumps({"question": "y" * 2_000_000}).encode(), "The request is too large"),
])
async def test_bad_input_gets_400_with_the_reason(
    make_client: MakeClient, body: bytes, reason: str
) -> None:
    client, runner = await make_client()
    resp = await client.post("/api/ask", data=io.BytesIO(body),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert reason in (await resp.json())["error"]
    assert runner.counts() == (0, 0)


async def test_a_limit_refusal_is_429_with_the_reason(
    make_client: MakeClient, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client(limits={"per_user": 1, "max_queued_per_user": 0})
    assert (await client.post("/api/ask", json={"question": "first"})).status == 202
    resp = await client.post("/api/ask", json={"question": "second"})
    assert resp.status == 429
    body = await resp.json()
    assert body["reason"] == "user_queue" and "already have a question running" in body["error"]
    # Another requester is not held up by the first one's limit.
    assert (await client.post("/api/ask", json={"question": "x", "user": "bob"})).status == 202


async def test_shutting_down_is_503(make_client: MakeClient) -> None:
    client, runner = await make_client()
    runner.stop_intake()
    resp = await client.post("/api/ask", json={"question": "hello"})
    assert resp.status == 503 and (await resp.json())["reason"] == "shutting_down"


async def test_an_idempotency_key_longer_than_its_column_is_refused(
    make_client: MakeClient,
) -> None:
    # jobs.dedup_key is VARCHAR(255): PostgreSQL would fail the insert with a 500.
    client, runner = await make_client()
    resp = await client.post("/api/ask", json={"question": "q1"},
                             headers={"Idempotency-Key": "k" * 256})
    assert resp.status == 400
    assert "Idempotency-Key" in (await resp.json())["error"]
    assert runner.counts() == (0, 0)
    ok = await client.post("/api/ask", json={"question": "q1"},
                           headers={"Idempotency-Key": "k" * 255})
    assert ok.status == 202


async def test_idempotency_key_returns_the_same_job(make_client: MakeClient) -> None:
    client, _ = await make_client()
    headers = {"Idempotency-Key": "retry-1"}
    first = await (await client.post("/api/ask", json={"question": "q1"}, headers=headers)).json()
    again = await client.post("/api/ask", json={"question": "q1"}, headers=headers)
    assert again.status == 202 and (await again.json())["id"] == first["id"]


async def test_queued_position_is_reported(make_client: MakeClient, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client(limits={"max_concurrent_jobs": 1, "per_user": 5})
    first = await (await client.post("/api/ask", json={"question": "one"})).json()
    second = await (await client.post("/api/ask", json={"question": "two"})).json()
    assert (first["status"], first["position"]) == ("running", None)
    assert (second["status"], second["position"]) == ("queued", 1)
    job = await (await client.get(f"/api/jobs/{second['id']}")).json()
    assert job["position"] == 1 and job["answer"] is None


async def test_delete_cancels(make_client: MakeClient, fake: FakeLLM) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client()
    assert (await client.delete("/api/jobs/nope")).status == 404
    created = await (await client.post("/api/ask", json={"question": "slow one"})).json()
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    resp = await client.delete(f"/api/jobs/{created['id']}")
    assert resp.status == 200 and (await resp.json())["cancelled"] is True
    job = await _wait_done(client, created["id"])
    assert job["status"] == "cancelled"
    again = await client.delete(f"/api/jobs/{created['id']}")
    assert again.status == 409 and "already cancelled" in (await again.json())["error"]


async def test_get_unknown_job_is_404(make_client: MakeClient) -> None:
    client, _ = await make_client()
    resp = await client.get("/api/jobs/unknown")
    assert resp.status == 404 and (await resp.json())["error"] == "No job with this id."


async def _sse_events(client: Client, job_id: str, within: float = 10) -> list[tuple[str, Any]]:
    """(event, data) pairs of the whole stream."""
    events: list[tuple[str, Any]] = []
    async with asyncio.timeout(within):
        resp = await client.get(f"/api/jobs/{job_id}",
                                headers={"Accept": "text/event-stream"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = (await resp.read()).decode()
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_sse_streams_progress_events_of_a_running_job(
    make_client: MakeClient, fake: FakeLLM
) -> None:
    fake.latency = 0.02
    client, _ = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Stream me"})).json()
    events = await _sse_events(client, created["id"])
    names = [e for e, _ in events]
    assert names[0] == "status" and events[0][1]["status"] == "running"
    for expected in ("accepted", "questions_ready", "agent_started", "agent_finished",
                     "synthesis_started", "synthesis_delta", "done"):
        assert expected in names
    assert names.index("accepted") < names.index("done")
    assert events[-1] == ("status", {"id": created["id"], "status": "done", "position": None,
                                     "error": None})
    done = dict(events)["done"]
    assert done["result"]["status"] == "ok" and "Answer" in done["result"]["answer"]


async def test_sse_of_a_finished_job_replays_its_status_and_result(
    make_client: MakeClient,
) -> None:
    client, _ = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Quick"})).json()
    await _wait_done(client, created["id"])
    events = await _sse_events(client, created["id"])
    # One order on both backends: the stored events, then the final status (issue 28; it was
    # ["status", "done"] on SQLite, while PostgreSQL replayed its events first)
    assert [e for e, _ in events] == ["done", "status"]
    assert events[0][1]["result"]["request_id"] == created["id"]


async def test_sse_of_a_queued_job_reports_its_position_then_follows_it(
    make_client: MakeClient, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client(limits={"max_concurrent_jobs": 1, "per_user": 5})
    blocker = await (await client.post("/api/ask", json={"question": "blocker"})).json()
    queued = await (await client.post("/api/ask", json={"question": "waiting"})).json()
    await fake.wait_for(lambda f: len(f.calls("decompose")) == 1)
    stream = asyncio.ensure_future(_sse_events(client, queued["id"]))
    await asyncio.sleep(0.1)
    await client.delete(f"/api/jobs/{blocker['id']}")
    events = await stream
    statuses = [(d["status"], d["position"]) for e, d in events if e == "status"]
    assert statuses[0] == ("queued", 1)
    assert ("running", None) in statuses and statuses[-1] == ("done", None)
    assert "done" in [e for e, _ in events]


async def test_metrics_in_prometheus_text_format(make_client: MakeClient) -> None:
    client, _ = await make_client()
    created = await (await client.post("/api/ask", json={"question": "Count me"})).json()
    await _wait_done(client, created["id"])
    await client.get("/api/jobs/nope")
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await resp.text()
    for line in (
        "# TYPE heavy_http_requests_total counter",
        'heavy_http_requests_total{method="POST",route="/api/ask",status="202"} 1.0',
        # the route pattern, never the job id, labels the series
        'heavy_http_requests_total{method="GET",route="/api/jobs/{id}",status="404"} 1.0',
        'heavy_jobs_submitted_total{platform="api"} 1.0',
        'heavy_jobs_finished_total{platform="api",status="done"} 1.0',
        'heavy_jobs{status="queued"} 0.0',
        'heavy_jobs{status="running"} 0.0',
        "heavy_queue_depth 0.0",
        "# TYPE heavy_job_duration_seconds histogram",
        'heavy_job_duration_seconds_count{platform="api"} 1.0',
        'heavy_job_queue_wait_seconds_count{platform="api"} 1.0',
        "# TYPE heavy_http_request_duration_seconds histogram",
    ):
        assert line in text.splitlines(), line
    calls = [ln for ln in text.splitlines() if ln.startswith("heavy_llm_calls_total{")]
    assert calls and sum(float(ln.rsplit(" ", 1)[1]) for ln in calls) >= 5
    # prometheus_client writes label pairs sorted by name (their order carries no meaning)
    assert any(ln.startswith('heavy_llm_tokens_total{kind="prompt",model="fake/model"} ')
               for ln in text.splitlines())
    assert any(ln.startswith("heavy_llm_cost_usd_total ") for ln in text.splitlines())


async def test_the_jobs_list_shows_this_servers_jobs_newest_first(
    make_client: MakeClient,
) -> None:
    client, _ = await make_client()
    assert (await (await client.get("/api/jobs")).json()) == {"jobs": []}
    first = await (await client.post("/api/ask", json={"question": "First?"})).json()
    second = await (await client.post("/api/ask", json={"question": "Second?"})).json()
    await _wait_done(client, first["id"])
    await _wait_done(client, second["id"])
    jobs = (await (await client.get("/api/jobs")).json())["jobs"]
    assert [j["id"] for j in jobs] == [second["id"], first["id"]]
    assert jobs[0]["question"] == "Second?" and jobs[0]["status"] == "done"
    assert jobs[0]["elapsed_s"] is not None


async def test_the_jobs_list_needs_the_token_like_every_api_route(
    make_client: MakeClient,
) -> None:
    client, _ = await make_client(token=TOKEN)
    assert (await client.get("/api/jobs")).status == 401
    resp = await client.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200


@pytest.mark.parametrize(("path", "kind"), [
    ("/", "text/html"),  # the page itself
    ("/static/app.js", "text/javascript"),
    ("/static/markdown.js", "text/javascript"),
    ("/static/style.css", "text/css"),
    ("/favicon.ico", "image/svg+xml"),  # asked for by browsers on their own: no 404
])
async def test_the_web_page_is_served_without_a_token(
    make_client: MakeClient, path: str, kind: str
) -> None:
    client, _ = await make_client(token=TOKEN)  # the page holds no data; the API asks for it
    resp = await client.get(path)
    assert resp.status == 200 and resp.content_type == kind
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [
    "/static/../_api.py",  # out of the folder
    "/static/%2e%2e%2f_page.py",  # the same, encoded
    "/static/nothing.js",  # not shipped
    "/static/index.py",  # a type the page never serves
])
async def test_only_the_shipped_page_files_are_served(make_client: MakeClient, path: str) -> None:
    client, _ = await make_client()
    assert (await client.get(path)).status == 404
