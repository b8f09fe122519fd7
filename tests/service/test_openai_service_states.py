"""The OpenAI endpoint on a server of its own: loopback without a token, and draining (503)."""

from __future__ import annotations

import io

import openai
import pytest

from tests.jobs.conftest import MakeClient


async def test_without_a_token_loopback_clients_need_no_real_key(
    make_client: MakeClient
) -> None:
    client, _ = await make_client()
    async with openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="anything",
                                  max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(
            model="heavy-1", messages=[{"role": "user", "content": "Quick one?"}])
    assert reply.choices[0].message.content and reply.usage is not None


async def test_a_draining_server_answers_503_with_retry_after(make_client: MakeClient) -> None:
    client, runner = await make_client(token="t" * 20)
    runner.stop_intake()
    async with openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="t" * 20,
                                  max_retries=0) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(
                model="heavy", messages=[{"role": "user", "content": "Still there?"}])
    err = caught.value
    assert err.status_code == 503 and err.code == "shutting_down"
    assert int(err.response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "The body must be JSON: an object with `model` and `messages`."),
    (b"\xff\xfe{}", "It is not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"model": "' + b"y" * 2_000_000 + b'"}', "The request is too large"),
])
async def test_a_body_that_is_not_json_is_a_400_in_openai_shape(
    make_client: MakeClient, body: bytes, reason: str
) -> None:
    """The same reading of the body as POST /api/ask, told in OpenAI's error shape."""
    client, runner = await make_client()
    resp = await client.post("/v1/chat/completions", data=io.BytesIO(body),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert reason in error["message"] and error["type"] == "invalid_request_error"
    assert runner.counts() == (0, 0)
