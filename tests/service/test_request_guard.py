"""Cross-site requests and DNS rebinding, as raw requests with forged headers against the real
app: refused with a one-line reason, no job created, nothing read. (The same attack from a real
page in Chromium is in tests/web/test_cross_site.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from heavy_engine.core._errors import ConfigError
from heavy_engine.db import JobRow
from heavy_engine.jobs import DurableRunner
from heavy_engine.service import READY, AllowedHosts, build_app, signed_webhook
from tests.jobs.conftest import Client, MakeRunner

ASK = {"question": "Why is the sky blue?", "agents": 1}
Make = Callable[..., Awaitable[tuple[Client, DurableRunner]]]


@pytest.fixture
async def make(make_runner: MakeRunner) -> AsyncIterator[Make]:
    clients: list[Client] = []

    async def build(env: dict[str, str] | None = None,
                    extra: list[web.RouteDef] | None = None) -> tuple[Client, DurableRunner]:
        runner = await make_runner()
        app = build_app(runner, runner.metrics, api_token=None, extra_routes=extra or [],
                        allowed_hosts=AllowedHosts.from_env(env or {}))
        app[READY].ready = True
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, runner

    yield build
    for client in clients:
        await client.close()


async def _jobs(runner: DurableRunner) -> int:
    async with runner.store.db.reads() as session:
        return int((await session.execute(select(func.count()).select_from(JobRow))).scalar_one())


def _port(client: Client) -> int:
    assert client.port is not None
    return client.port


@pytest.mark.parametrize("headers, status, says", [
    # What a DNS-rebinding page sends: its own name, now pointing at 127.0.0.1.
    ({"Host": "attacker.example"}, 421, "not one of this server's names"),
    ({"Host": "attacker.example:{port}"}, 421, "HEAVY_ALLOWED_HOSTS"),
    ({"Host": "localhost.attacker.example"}, 421, "not one of"),
    ({"Host": "10.1.2.3:{port}"}, 421, "not one of"),  # an address, but not this one
    ({"Host": ""}, 421, "not one of"),
    # A page on another origin posting a form or a no-cors fetch.
    ({"Origin": "http://attacker.example"}, 403, "another site"),
    ({"Origin": "null"}, 403, "origin 'null'"),
    ({"Origin": "http://localhost:{port}"}, 403, "another site"),  # Host is 127.0.0.1
    ({"Origin": "http://127.0.0.1:1"}, 403, "another site"),  # another local server's page
    ({"Sec-Fetch-Site": "cross-site"}, 403, "cross-site"),
    # The body types a cross-origin form or no-cors fetch can send.
    ({"Content-Type": "text/plain"}, 415, "application/json"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "application/json"),
])
async def test_a_forged_ask_creates_no_job(make: Make, headers: dict[str, str], status: int,
                                           says: str) -> None:
    client, runner = await make()
    port = _port(client)
    sent = {"Content-Type": "application/json", **{k: v.format(port=port)
                                                   for k, v in headers.items()}}
    resp = await client.post("/api/ask", data=b'{"question": "spend", "agents": 1}',
                             headers=sent)
    assert resp.status == status
    assert says in (await resp.json())["error"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await _jobs(runner) == 0


async def test_a_rebound_name_reads_nothing(make: Make) -> None:
    client, _ = await make()
    job = await (await client.post("/api/ask", json=ASK)).json()
    for path in ("/api/jobs", f"/api/jobs/{job['id']}", "/", "/static/app.js", "/metrics",
                 "/healthz", "/no/such/route"):
        resp = await client.get(path, headers={"Host": "attacker.example:80"})
        body = await resp.text()
        assert resp.status == 421, path
        assert job["id"] not in body and "sky" not in body and "heavy_" not in body
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_this_servers_names_are_served(make: Make) -> None:
    client, runner = await make({"HEAVY_ALLOWED_HOSTS": "heavy.internal:8080, other.example",
                                 "HEAVY_PUBLIC_URL": "https://heavy.example.com/"})
    port = _port(client)
    # localhost:8080: a Docker port mapping in front of this server's port.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost:8080", "[::1]:3001",
                 "127.0.0.2", "heavy.internal:8080",
                 "other.example", "other.example:443", "HEAVY.example.com"):
        assert (await client.get("/api/jobs", headers={"Host": host})).status == 200, host
    assert (await client.get("/api/jobs", headers={"Host": "heavy.internal:9"})).status == 421
    # A browser on the public name posts with its own origin: same site, accepted.
    resp = await client.post("/api/ask", json=ASK, headers={
        "Host": "heavy.example.com", "Origin": "https://heavy.example.com",
        "Sec-Fetch-Site": "same-origin"})
    assert resp.status == 202
    # The page's own Stop: a body-less DELETE with this origin.
    job = (await resp.json())["id"]
    resp = await client.delete(f"/api/jobs/{job}", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert resp.status in (200, 202, 409)
    assert await _jobs(runner) == 1


async def test_a_signed_webhook_takes_its_platforms_requests(make: Make) -> None:
    """Slack posts form-encoded commands from its servers, to the app's public name: the route
    checks the signature itself, so the guard lets it through (and still says nosniff)."""
    seen: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request.content_type)
        return web.json_response({"ok": True})

    client, _ = await make(extra=[signed_webhook("POST", "/hook", hook, "test-hook")])
    resp = await client.post("/hook", data="command=%2Fheavy", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Host": "heavy.example.com"})
    assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert seen == ["application/x-www-form-urlencoded"]


@pytest.mark.parametrize("env, says", [
    ({"HEAVY_ALLOWED_HOSTS": "heavy.example.com/path"}, "HEAVY_ALLOWED_HOSTS"),
    ({"HEAVY_ALLOWED_HOSTS": "heavy.example.com:99999"}, "HEAVY_ALLOWED_HOSTS"),
    ({"HEAVY_PUBLIC_URL": "heavy.example.com"}, "HEAVY_PUBLIC_URL"),
])
def test_bad_host_settings_name_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        AllowedHosts.from_env(env)
