"""`Idempotency-Key` is scoped to the caller, and a reuse with another body is 422 (issue 10,
item 7). Through a real aiohttp server over one shared database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from heavy_engine.service._http import READY, build_app
from tests.jobs.conftest import MakeRunner

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client(make_runner: MakeRunner) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(token: str) -> Client:
        runner = await make_runner()
        app = build_app(runner, runner.metrics, api_token=token)
        app[READY].ready = True
        client: Client = TestClient(TestServer(app, host="127.0.0.1"),
                                    headers={"Authorization": f"Bearer {token}"})
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def ask(client: Client, key: str, **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/ask", json=body, headers={"Idempotency-Key": key})
    return resp.status, await resp.json()


async def test_the_same_request_again_is_the_same_job(make_client: MakeClient) -> None:
    client = await make_client("token-a")
    status, first = await ask(client, "k1", question="Why?", agents=2, user="ann")
    again_status, again = await ask(client, "k1", question="Why?", agents=2, user="ann")
    assert (status, again_status) == (202, 202) and again["id"] == first["id"]


@pytest.mark.parametrize("changed", [
    {"question": "Why not?"},  # another question
    {"agents": 3},  # other flags
])
async def test_a_reuse_with_another_body_is_422(
    make_client: MakeClient, changed: dict[str, Any]
) -> None:
    client = await make_client("token-a")
    body: dict[str, Any] = {"question": "Why?", "agents": 2, "user": "ann"}
    assert (await ask(client, "k1", **body))[0] == 202
    status, answer = await ask(client, "k1", **{**body, **changed})
    assert status == 422
    assert "Idempotency-Key" in answer["error"] and "different request" in answer["error"]


async def test_the_key_is_scoped_to_the_user_and_the_token(make_client: MakeClient) -> None:
    a = await make_client("token-a")
    b = await make_client("token-b")  # another caller of the same database
    _, ann = await ask(a, "shared-key", question="Why?", user="ann")
    _, bob = await ask(a, "shared-key", question="Why?", user="bob")
    _, other = await ask(b, "shared-key", question="Why?", user="ann")
    assert len({ann["id"], bob["id"], other["id"]}) == 3
    # and nobody reads another caller's job through the key
    assert ann["id"] not in (bob["id"], other["id"])
