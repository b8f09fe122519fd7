"""The OpenAI-compatible endpoint, driven by the official `openai` client against a live service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from heavy_engine.testing import error_reply, hang_reply
from tests.service.live import Live, job_reaches

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def client(live: Live) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.token,
                                  max_retries=0, timeout=60) as made:
        yield made


def _job_id(completion_id: str) -> str:
    assert completion_id.startswith("chatcmpl-")
    return completion_id.removeprefix("chatcmpl-")


async def test_models_lists_heavy_and_the_presets(client: openai.AsyncOpenAI) -> None:
    ids = [model.id async for model in client.models.list()]
    assert ids[0] == "heavy" and {"heavy-auto", "heavy-2", "heavy-8"} <= set(ids)


async def test_a_completion_with_context_instructions_and_sampling(
    client: openai.AsyncOpenAI, live: Live
) -> None:
    live.fake.requests.clear()
    completion = await client.chat.completions.create(
        model="heavy-2", user="plain", temperature=0.3, max_tokens=500,
        messages=[
            {"role": "system", "content": "Answer in exactly three bullet points."},
            {"role": "user", "content": "We run Postgres 15 on one VM."},
            {"role": "assistant", "content": "Noted: a single Postgres 15 VM."},
            {"role": "user", "content": "Should we add a read replica?"},
        ])
    answer = completion.choices[0].message.content or ""
    assert completion.object == "chat.completion" and completion.model == "heavy-2"
    assert completion.choices[0].finish_reason == "stop" and "Answer" in answer
    assert completion.usage is not None and completion.usage.total_tokens > 0
    job = await live.runner.get_job(_job_id(completion.id))
    assert job is not None and job.status == "done" and job.spec.platform == "api"
    assert job.spec.question == "Should we add a read replica?"
    assert job.spec.context is not None and "single Postgres 15 VM" in job.spec.context
    # The synthesis (and only it) got the instructions, the temperature and the length cap.
    synthesis = live.fake.calls("synthesis")[-1].body or {}
    assert synthesis["temperature"] == 0.3 and synthesis["max_tokens"] == 500
    assert "exactly three bullet points" in synthesis["messages"][0]["content"]
    agent = live.fake.calls("agent")[-1].body or {}
    assert "max_tokens" not in agent and "three bullet points" not in str(agent["messages"][0])
    # A durable job like POST /api/ask: listed by the API and the web page.
    async with httpx.AsyncClient(base_url=live.url, headers={
            "Authorization": f"Bearer {live.token}"}) as api:
        listed = (await api.get("/api/jobs")).json()["jobs"]
    assert job.id in [j["id"] for j in listed]


async def test_streaming_sends_reasoning_then_content_then_usage(
    client: openai.AsyncOpenAI, live: Live
) -> None:
    stream = await client.chat.completions.create(
        model="heavy-2", user="streamer", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Compare SQLite and PostgreSQL for a small team."}])
    reasoning, content, chunks = [], [], []
    async for chunk in stream:
        chunks.append(chunk)
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        extra: dict[str, Any] = delta.model_extra or {}
        if extra.get("reasoning_content"):
            assert not content, "the agents' progress comes before the answer"
            reasoning.append(extra["reasoning_content"])
        if delta.content:
            content.append(delta.content)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    lines = "".join(reasoning).splitlines()
    assert lines[0].startswith("Planned 2 sub-questions: 1. ")
    assert sum(line.startswith("Agent ") and " started: " in line for line in lines) == 2
    assert sum(" finished (ok, " in line for line in lines) == 2
    assert lines[-1] == "Writing the answer from 2 agents' findings"
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage  # include_usage: a last chunk with no choices
    assert chunks[-1].choices == [] and usage is not None and usage.prompt_tokens > 0
    job = await live.runner.get_job(_job_id(chunks[0].id))
    assert job is not None and job.result is not None
    assert "".join(content) == job.result.answer  # the synthesis as written, then stored


async def test_a_streaming_client_that_disconnects_cancels_its_job(
    client: openai.AsyncOpenAI, live: Live
) -> None:
    live.fake.enqueue(hang_reply(), hang_reply(), when="agent")  # the agents never answer
    stream = await client.chat.completions.create(
        model="heavy-2", user="leaver", stream=True,
        messages=[{"role": "user", "content": "A question nobody waits for"}])
    started = 0
    async for chunk in stream:
        extra = (chunk.choices[0].delta.model_extra or {}) if chunk.choices else {}
        started += " started: " in extra.get("reasoning_content", "")
        if started == 2:
            break
    await stream.close()  # the client goes away mid-research
    job = await job_reaches(live.runner, _job_id(chunk.id), "cancelled")
    assert job.stopped_by == "leaver"
    await live.fake.wait_for(lambda f: f.pending == 0)


async def test_a_waiting_client_that_gives_up_cancels_its_job(live: Live) -> None:
    """Not streaming, the client hears nothing until the answer: when it gives up (its timeout,
    after which the SDKs ask again), the run it left must not go on spending."""
    live.fake.enqueue(hang_reply(), hang_reply(), when="agent")  # the agents never answer
    question = "A question whose asker stops waiting"
    async with openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.token,
                                  max_retries=0, timeout=3) as impatient:
        with pytest.raises(openai.APITimeoutError):
            await impatient.chat.completions.create(
                model="heavy-2", user="quitter",
                messages=[{"role": "user", "content": question}])
    async with httpx.AsyncClient(base_url=live.url, headers={
            "Authorization": f"Bearer {live.token}"}) as api:
        listed = (await api.get("/api/jobs")).json()["jobs"]
    job_id = next(j["id"] for j in listed if j["question"] == question)
    job = await job_reaches(live.runner, job_id, "cancelled")
    assert job.stopped_by == "quitter"
    await live.fake.wait_for(lambda f: f.pending == 0)


@pytest.mark.parametrize(("fields", "param", "code"), [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools",
     "unsupported_parameter"),  # heavy's agents use their own tools
    ({"n": 2}, "n", "unsupported_parameter"),  # one choice only
    ({"logprobs": True}, "logprobs", "unsupported_parameter"),
    ({"temperature": 3}, "temperature", None),  # out of OpenAI's own range
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages", None),  # no question
])
async def test_unsupported_fields_are_a_400_naming_the_field(
    client: openai.AsyncOpenAI, fields: dict[str, Any], param: str, code: str | None
) -> None:
    request: dict[str, Any] = {"model": "heavy", "user": "bad-input",
                               "messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**request)
    error = caught.value
    assert error.status_code == 400 and error.param == param and error.code == code
    assert error.type == "invalid_request_error" and param in error.message


async def test_errors_map_to_the_sdks_exception_classes(
    client: openai.AsyncOpenAI, live: Live
) -> None:
    ask: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="gpt-4o", user="errors", **ask)
    assert unknown.value.code == "model_not_found"
    async with openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key="wrong",
                                  max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError) as denied:
            await stranger.models.list()
        assert denied.value.code == "invalid_api_key"
    # The per-user limit (one running, none queued) refuses a second question: 429.
    live.fake.enqueue(hang_reply(), when="decompose")
    first = await client.chat.completions.create(model="heavy", user="busy", stream=True, **ask)
    await anext(aiter(first))
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="heavy", user="busy", **ask)
    assert limited.value.code == "user_queue"
    assert int(limited.value.response.headers["Retry-After"]) > 0
    await first.close()
    await live.fake.wait_for(lambda f: f.pending == 0)


async def test_the_same_idempotency_key_is_the_same_job(
    client: openai.AsyncOpenAI, live: Live
) -> None:
    ask: dict[str, Any] = {"model": "heavy", "user": "retrier",
                           "messages": [{"role": "user", "content": "Once only, please"}],
                           "extra_headers": {"Idempotency-Key": "k-1"}}
    first = await client.chat.completions.create(**ask)
    again = await client.chat.completions.create(**ask)
    assert first.id == again.id
    assert first.choices[0].message.content == again.choices[0].message.content


async def test_a_failed_run_is_not_asked_again_by_the_sdk(live: Live) -> None:
    live.fake.requests.clear()
    live.fake.enqueue(error_reply(401, "bad key"), error_reply(401, "bad key"),
                      when="decompose")  # the provider refuses: the run fails at once
    ask: dict[str, Any] = {"model": "heavy", "user": "unlucky",
                           "messages": [{"role": "user", "content": "Doomed?"}]}
    async with openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.token,
                                  max_retries=2) as retrying:
        with pytest.raises(openai.APIStatusError) as caught:
            await retrying.chat.completions.create(**ask)
        assert caught.value.status_code == 502 and caught.value.code == "failed"
        assert len(live.fake.calls("decompose")) == 1  # x-should-retry: false
        # Streaming: the failure arrives as an error event, which the SDK raises.
        stream = await retrying.chat.completions.create(stream=True, **ask)
        with pytest.raises(openai.APIError, match="401"):
            async for _ in stream:
                pass
