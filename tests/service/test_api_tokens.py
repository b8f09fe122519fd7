"""Named API tokens (`HEAVY_API_TOKENS_FILE`, issue 27 §5): the file's rules, and a token's
name as the principal of its jobs (user, limits, block list, `/api/jobs` scoping)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client

from heavy_engine import ConfigError, HeavyConfig
from heavy_engine.cli import main
from heavy_engine.observability import redact
from heavy_engine.service import NamedTokens, load_named_tokens
from heavy_engine.service._callers import parse_named_tokens
from heavy_engine.testing import FakeLLM, hang_reply
from tests.jobs.conftest import Client, MakeClient

ANN, BOB, ADMIN = "ann-token-0123456789abcdef", "bob-token-0123456789abcdef", "admin-token-0123456"
BOB_HASH = "sha256:" + hashlib.sha256(BOB.encode()).hexdigest()
FILE = f"# who may call heavy\n\nann {ANN}\nbob {BOB_HASH}  \n"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def named() -> NamedTokens:
    return parse_named_tokens(FILE, "tokens.txt")


def test_a_file_of_plain_and_hashed_tokens(named: NamedTokens) -> None:
    assert named.names() == ["ann", "bob"]
    assert named.identify(ANN) == "ann" and named.identify(BOB) == "bob"
    assert named.identify(BOB_HASH) is None  # the digest itself is not the token
    assert named.identify(ANN[:-1]) is None and named.identify("") is None
    # Both tokens are hidden from logs: the plain one once read, the hashed one once used.
    assert ANN not in redact(f"token {ANN}") and BOB not in redact(f"got {BOB}")


@pytest.mark.parametrize(("text", "rule"), [
    # one field: no token
    ("ann\n", "line 1: a line is `name token`"),
    # three fields (a token with a space in it)
    (f"# c\nann {ANN} more\n", "line 2: a line is `name token`"),
    # a name with a colon would read as a platform prefix in block_users
    (f"api:ann {ANN}\n", "line 1: the name must be 1-64 letters"),
    # the same name twice
    (f"ann {ANN}\nann {BOB}\n", "line 2: the name 'ann' is already used on line 1"),
    # the same token for two names (one of them hashed)
    (f"ann {ANN}\nbob sha256:{hashlib.sha256(ANN.encode()).hexdigest()}\n",
     "line 2: the token is the same as line 1's"),
    # too short to be a secret
    ("ann short-token\n", "line 1: the token is shorter than 16 characters"),
    # a hash that is not 64 hex digits
    ("ann sha256:abc123\n", "line 1: a hashed token is sha256: followed by 64 hex digits"),
    # only comments
    ("# nobody yet\n\n", "lists no token"),
])
def test_a_bad_line_names_the_file_the_line_and_the_rule(text: str, rule: str) -> None:
    with pytest.raises(ConfigError, match=r"tokens\.txt") as err:
        parse_named_tokens(text, "tokens.txt")
    assert rule in str(err.value)
    assert ANN not in str(err.value) and "short-token" not in str(err.value)


def test_an_unreadable_file_is_a_config_error() -> None:
    assert load_named_tokens(None) is None and load_named_tokens("") is None
    with pytest.raises(ConfigError, match=r"HEAVY_API_TOKENS_FILE missing\.txt cannot be read"):
        load_named_tokens("missing.txt")


def test_serve_refuses_to_start_with_a_bad_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with open("tokens.txt", "w", encoding="utf-8") as f:
        f.write(f"ann {ANN}\nbob {ANN[:10]}\n")  # line 2: too short
    monkeypatch.setenv("HEAVY_API_TOKENS_FILE", "tokens.txt")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "tokens.txt, line 2: the token is shorter than 16 characters" in err
    assert ANN[:10] not in err


async def _ask(client: Client, token: str, **body: object) -> tuple[int, dict[str, object]]:
    resp = await client.post("/api/ask", json={"question": "Why?", **body},
                             headers=_auth(token))
    return resp.status, await resp.json()


async def test_the_name_is_the_user_and_a_different_user_is_refused(
    make_client: MakeClient, named: NamedTokens
) -> None:
    client, runner = await make_client(named=named)
    status, created = await _ask(client, ANN)
    assert status == 202
    job = await runner.get_job(str(created["id"]))
    assert job is not None and (job.spec.platform, job.spec.user) == ("api", "ann")
    assert (await _ask(client, ANN, user="ann"))[0] == 202  # the same name: fine
    status, body = await _ask(client, ANN, user="bob")  # posing as another caller
    assert status == 400 and "this token asks as 'ann'" in str(body["error"])
    assert (await _ask(client, "not-a-token-at-all-xx"))[0] == 401


async def test_a_named_token_in_block_users_is_refused(
    make_client: MakeClient, named: NamedTokens, config: HeavyConfig
) -> None:
    blocked = config.with_overrides({"access": {"block_users": ["api:bob"]}})
    client, _ = await make_client(named=named, base=blocked)
    status, body = await _ask(client, BOB)
    assert status == 429 and body["reason"] == "not_allowed"
    assert (await _ask(client, ANN))[0] == 202  # another name is not blocked


async def test_limits_hold_per_name_whatever_the_body_says(
    make_client: MakeClient, named: NamedTokens, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client(named=named, limits={"per_user": 1, "max_queued_per_user": 0})
    assert (await _ask(client, ANN))[0] == 202
    assert (await _ask(client, ANN))[1]["reason"] == "user_queue"
    assert (await _ask(client, ANN, user="someone-else"))[0] == 400  # no way around it
    assert (await _ask(client, BOB))[0] == 202  # bob is another principal


async def test_a_caller_sees_and_cancels_only_its_own_jobs(
    make_client: MakeClient, named: NamedTokens, fake: FakeLLM
) -> None:
    fake.enqueue(hang_reply(), when="decompose")
    client, _ = await make_client(token=ADMIN, named=named)
    ann_job = str((await _ask(client, ANN))[1]["id"])
    bob_job = str((await _ask(client, BOB))[1]["id"])
    for token, mine, theirs in ((ANN, ann_job, bob_job), (BOB, bob_job, ann_job)):
        listed = await (await client.get("/api/jobs", headers=_auth(token))).json()
        assert [j["id"] for j in listed["jobs"]] == [mine]
        assert (await client.get(f"/api/jobs/{mine}", headers=_auth(token))).status == 200
        for method in (client.get, client.delete):  # read, follow (SSE) and cancel: 404
            resp = await method(f"/api/jobs/{theirs}", headers={
                **_auth(token), "Accept": "text/event-stream"})
            assert resp.status == 404
    # The single HEAVY_API_TOKEN keeps today's rule: every job, and `user` as sent.
    listed = await (await client.get("/api/jobs", headers=_auth(ADMIN))).json()
    assert [j["id"] for j in listed["jobs"]] == [bob_job, ann_job]
    assert (await client.delete(f"/api/jobs/{ann_job}", headers=_auth(ADMIN))).status == 200
    assert (await _ask(client, ADMIN, user="carol"))[0] == 202


async def test_idempotency_keys_are_per_name(
    make_client: MakeClient, named: NamedTokens
) -> None:
    client, _ = await make_client(named=named)
    key = {"Idempotency-Key": "k1"}
    first = await client.post("/api/ask", json={"question": "Why?"}, headers={**_auth(ANN), **key})
    again = await client.post("/api/ask", json={"question": "Why?"}, headers={**_auth(ANN), **key})
    other = await client.post("/api/ask", json={"question": "Why?"}, headers={**_auth(BOB), **key})
    ids = [(await r.json())["id"] for r in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]


async def test_the_openai_endpoint_asks_as_the_name(
    make_client: MakeClient, named: NamedTokens
) -> None:
    client, runner = await make_client(named=named)
    url = str(client.make_url("/v1"))
    async with openai.AsyncOpenAI(base_url=url, api_key=ANN, max_retries=0, timeout=60) as ann:
        with pytest.raises(openai.BadRequestError) as refused:
            await ann.chat.completions.create(model="heavy", user="bob", messages=[
                {"role": "user", "content": "Why?"}])
        assert "this token asks as 'ann'" in str(refused.value.message)
        done = await ann.chat.completions.create(model="heavy", messages=[
            {"role": "user", "content": "Why?"}])
    job = await runner.get_job(done.id.removeprefix("chatcmpl-"))
    assert job is not None and job.spec.user == "ann"


@contextlib.asynccontextmanager
async def _mcp(url: str, token: str) -> AsyncIterator[McpClient]:
    async with (httpx2.AsyncClient(headers=_auth(token), timeout=60) as http,
                McpClient(streamable_http_client(url, http_client=http)) as client):
        yield client


async def test_mcp_asks_as_the_name_and_shows_only_its_jobs(
    make_client: MakeClient, named: NamedTokens
) -> None:
    client, runner = await make_client(named=named)
    url = str(client.make_url("/mcp"))

    async with _mcp(url, ANN) as ann:
        answered = await ann.call_tool("heavy_ask", {"question": "Why?"})
        assert not answered.is_error
        job_id = answered.structured_content["job"]  # type: ignore[index]
        assert not (await ann.call_tool("heavy_job", {"id": job_id})).is_error
    job = await runner.get_job(job_id)
    assert job is not None and job.spec.user == "ann"
    async with _mcp(url, BOB) as bob:
        other = await bob.call_tool("heavy_job", {"id": job_id})
        assert other.is_error and "No job" in str(other.content)
