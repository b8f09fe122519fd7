"""The `openai` provider against the fake server over real HTTP; pure wire helpers directly."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from yarl import URL

from heavy_engine import (
    ChatRequest,
    Completion,
    Engine,
    HeavyRequest,
    Prompts,
    ProviderConfig,
    ProviderError,
    Usage,
)
from heavy_engine.core._agent import CallBudget, call_model
from heavy_engine.providers import (
    BadReply,
    OpenAIProvider,
    ProviderPool,
    StreamState,
    provider_message,
    proxy_for,
    retry_after,
)
from heavy_engine.testing import (
    FakeLLM,
    Reply,
    drop_reply,
    error_reply,
    fake_config,
    fake_provider_config,
    garbage_reply,
    hang_reply,
    text_reply,
    tool_call_reply,
)

KEY = "sk-or-v1-supersecretvalue1234567890"
CALC = {"type": "function", "function": {"name": "calculate", "parameters": {"type": "object"}}}


def ask(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest(model="fake/model", messages=[{"role": "user", "content": text}],
                       timeout=kw.pop("timeout", 5.0), **kw)


@pytest.fixture
async def make(fake_llm: FakeLLM) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    """Build providers for the fake server; all are closed at the end."""
    made: list[OpenAIProvider] = []

    def build(env: dict[str, str] | None = None, **fields: Any) -> OpenAIProvider:
        p = OpenAIProvider("fake", fake_provider_config(fake_llm.base_url, **fields), env or {})
        made.append(p)
        return p

    yield build
    for p in made:
        await p.aclose()


async def collect(provider: OpenAIProvider, request: ChatRequest) -> tuple[list[str], Completion]:
    deltas: list[str] = []
    final: list[Completion] = []
    async for item in provider.stream(request):
        (deltas if isinstance(item, str) else final).append(item)  # type: ignore[arg-type]
    assert len(final) == 1
    return deltas, final[0]


# -- request bodies and headers ---------------------------------------------------------------


async def test_body_has_no_tools_key_without_tools(make: Any, fake_llm: FakeLLM) -> None:
    p = make()
    await p.complete(ask())
    await p.complete(ask(tools=[]))
    await p.complete(ask(tools=[CALC], temperature=0.3, json_mode=True))
    first, empty, full = (r.body for r in fake_llm.calls())
    assert first is not None and empty is not None and full is not None
    assert "tools" not in first and "tools" not in empty
    assert "temperature" not in first  # None means "the provider's default"
    assert "response_format" not in first
    assert full["tools"] == [CALC] and full["temperature"] == 0.3
    assert full["response_format"] == {"type": "json_object"}


async def test_text_goes_out_as_utf8_and_a_lone_surrogate_does_not_fail_the_call(
        make: Any, fake_llm: FakeLLM) -> None:
    p = make()
    await p.complete(ask("naïve 東京 ✓"))
    # what a JSON escape like "\\ud83d" in a chat message decodes to: not encodable as UTF-8
    await p.complete(ask("broken \ud83d emoji"))
    plain, broken = (r.body for r in fake_llm.calls())
    assert plain is not None and plain["messages"][0]["content"] == "naïve 東京 ✓"
    assert broken is not None and broken["messages"][0]["content"] == "broken ? emoji"


async def test_assistant_messages_never_carry_tool_calls_null(make: Any, fake_llm: FakeLLM) -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "tool_calls": None},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "b", "tool_calls": []},
        {"role": "user", "content": "q3"},
    ]
    await make().complete(ChatRequest(model="m", messages=messages))
    body = fake_llm.calls()[0].body
    assert body is not None
    assert all("tool_calls" not in m for m in body["messages"])
    assert messages[1]["tool_calls"] is None  # the caller's history is left alone


async def test_headers_carry_key_and_configured_headers(make: Any, fake_llm: FakeLLM) -> None:
    await make({"FAKE_KEY": KEY}, api_key_env="FAKE_KEY", headers={"X-Title": "heavy"}).complete(ask())
    await make().complete(ask())
    with_key, without = fake_llm.calls()
    assert with_key.headers["authorization"] == f"Bearer {KEY}"
    assert with_key.headers["x-title"] == "heavy"
    assert with_key.headers["content-type"] == "application/json"
    assert "authorization" not in without.headers


async def test_openrouter_asks_for_usage_accounting(make: Any, fake_llm: FakeLLM) -> None:
    p = make()
    assert not p.openrouter
    p.openrouter = True  # as for https://openrouter.ai/api/v1, but served by the fake
    done = await p.complete(ask())
    body = fake_llm.calls()[0].body
    assert body is not None and body["usage"] == {"include": True}
    assert done.usage.cost_usd > 0
    real = OpenAIProvider("or", fake_provider_config("https://openrouter.ai/api/v1"), {})
    assert real.openrouter
    await real.aclose()


async def test_stream_body_asks_for_usage(make: Any, fake_llm: FakeLLM) -> None:
    await collect(make(), ask())
    body = fake_llm.calls()[0].body
    assert body is not None
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "usage" not in body  # OpenRouter-only accounting flag


# -- replies, streaming and usage -------------------------------------------------------------


async def test_complete_returns_text_tool_calls_and_usage(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(tool_call_reply(("calculate", {"expression": "2+2"}), ("web_search", "{}")))
    done = await make().complete(ask(tools=[CALC]))
    assert [c.name for c in done.tool_calls] == ["calculate", "web_search"]
    assert json.loads(done.tool_calls[0].arguments) == {"expression": "2+2"}
    assert done.tool_calls[0].id != done.tool_calls[1].id
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.usage.cost_usd > 0 and done.usage.calls == 1


async def test_stream_yields_deltas_then_one_completion(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(text_reply("alpha beta gamma delta epsilon zeta",
                                usage={"prompt_tokens": 11, "completion_tokens": 7, "cost": 0.5}))
    deltas, done = await collect(make(), ask())
    assert len(deltas) >= 3 and "".join(deltas) == done.content
    assert done.content == "alpha beta gamma delta epsilon zeta"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (11, 7)
    assert done.usage.cost_usd == 0.5 and done.finish_reason == "stop"


async def test_stream_reassembles_tool_calls_by_index(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(tool_call_reply(("calculate", {"expression": "1 + 2 * 3"}),
                                     ("fetch_url", {"url": "https://example.com/a?b=c"})))
    deltas, done = await collect(make(), ask(tools=[CALC]))
    assert deltas == []
    assert [(c.name, json.loads(c.arguments)) for c in done.tool_calls] == [
        ("calculate", {"expression": "1 + 2 * 3"}),
        ("fetch_url", {"url": "https://example.com/a?b=c"}),
    ]
    assert all(c.id.startswith("call_") for c in done.tool_calls)
    assert done.finish_reason == "tool_calls" and done.usage.completion_tokens > 0


def test_stream_interleaved_deltas_out_of_order() -> None:
    # Some servers interleave calls; fragments must still land on the right index.
    chunks = [
        {"choices": [{"delta": {"tool_calls": [
            {"index": 1, "id": "b", "function": {"name": "two", "arguments": ""}}]}}]},
        {"choices": [{"delta": {"tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "one", "arguments": "{\"x\""}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "cost": 0.1}},
    ]
    state = StreamState("m")
    for c in chunks:
        assert state.feed(json.dumps(c).encode()) is None
    done = state.completion()
    assert [(c.id, c.name, c.arguments) for c in done.tool_calls] == [
        ("a", "one", '{"x": 1}'), ("b", "two", "{}")]
    assert done.usage.cost_usd == 0.1 and done.usage.completion_tokens == 2


# -- retries ----------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(429, "slow down", headers={"Retry-After": "0.3"}), "fine")
    done = await make().complete(ask())
    first, second = fake_llm.calls()
    assert done.content == "fine"
    assert first.finished is not None and second.started - first.finished >= 0.28


async def test_500_then_success(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(500), error_reply(503), "recovered")
    assert (await make().complete(ask())).content == "recovered"
    assert len(fake_llm.calls()) == 3


async def test_garbage_then_success(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(garbage_reply(), "clean")
    assert (await make().complete(ask())).content == "clean"
    assert len(fake_llm.calls()) == 2


_DEEP = b"[" * 100_000 + b"]" * 100_000
_ANSWER = b'{"choices": [{"message": {"content": "x"}}]'


@pytest.mark.parametrize("body", [
    pytest.param(_DEEP, id="nested-past-the-recursion-limit"),  # RecursionError, not ValueError
    pytest.param(b'{"choices": [{"message": "not an object"}]}', id="message-not-an-object"),
    pytest.param(b'{"choices": ["x"]}', id="choice-not-an-object"),
    pytest.param(b'{"choices": [{"message": {"tool_calls": ["x"]}}]}', id="tool-call-not-an-object"),
    pytest.param(_ANSWER + b', "usage": {"prompt_tokens": "n/a"}}', id="usage-not-a-number"),
    pytest.param(_ANSWER + b', "usage": {"cost": [1]}}', id="cost-not-a-number"),
])
async def test_malformed_replies_are_unreadable_and_retried(
    make: Any, fake_llm: FakeLLM, body: bytes
) -> None:
    fake_llm.enqueue(garbage_reply(body), "clean")
    assert (await make().complete(ask())).content == "clean"
    fake_llm.enqueue(garbage_reply(body))
    with pytest.raises(ProviderError, match="unreadable reply"):
        await make(max_retries=0).complete(ask())


@pytest.mark.parametrize("chunk", [
    pytest.param(_DEEP, id="nested-past-the-recursion-limit"),
    pytest.param(b'{"choices": ["x"]}', id="choice-not-an-object"),
    pytest.param(b'{"choices": [{"delta": "x"}]}', id="delta-not-an-object"),
    pytest.param(b'{"choices": [{"delta": {"tool_calls": [{"index": "first"}]}}]}',
                 id="index-not-a-number"),
    pytest.param(b'{"choices": [{"delta": {"tool_calls": ["x"]}}]}', id="tool-call-not-an-object"),
])
def test_malformed_stream_chunks_are_unreadable(chunk: bytes) -> None:
    with pytest.raises(BadReply):
        StreamState("m").feed(chunk)


_PARTS = [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hello"},
          {"type": "text", "text": " world"}]


async def test_content_given_as_parts_is_joined_text(make: Any, fake_llm: FakeLLM) -> None:
    # Some servers (Mistral's reasoning models) send content as a list of typed parts.
    body = {"choices": [{"message": {"content": _PARTS}, "finish_reason": "stop"}]}
    fake_llm.enqueue(error_reply(200, body=json.dumps(body)))
    assert (await make().complete(ask())).content == "Hello world"
    state = StreamState("m")
    assert state.feed(json.dumps({"choices": [{"delta": {"content": _PARTS}}]})) == "Hello world"
    assert state.feed(json.dumps({"choices": [{"delta": {"content": "!"}}]})) == "!"
    assert state.completion().content == "Hello world!"


async def test_stream_garbage_then_success(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(garbage_reply(b"{not json"), error_reply(502), "streamed fine")
    deltas, done = await collect(make(), ask())
    assert "".join(deltas) == done.content == "streamed fine"
    assert len(fake_llm.calls()) == 3


async def test_retry_cap_reached_gives_clear_error(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(*[error_reply(503, "upstream overloaded")] * 10)
    with pytest.raises(ProviderError) as info:
        await make(max_retries=3).complete(ask())
    assert len(fake_llm.calls()) == 4  # one try plus exactly max_retries retries
    msg = str(info.value)
    assert "gave up after 4 attempts" in msg and "503" in msg and "upstream overloaded" in msg
    assert info.value.status == 503 and info.value.retryable


async def test_no_retries_when_max_retries_is_zero(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(500), "never used")
    with pytest.raises(ProviderError):
        await make(max_retries=0).complete(ask())
    assert len(fake_llm.calls()) == 1


async def test_retry_after_beyond_the_call_timeout_fails_fast(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(error_reply(429, headers={"Retry-After": "120"}), "too late")
    start = time.monotonic()
    with pytest.raises(ProviderError, match="would pass the 2 s call timeout"):
        await make().complete(ask(timeout=2))
    assert time.monotonic() - start < 5 and len(fake_llm.calls()) == 1  # not the 120 s asked


async def test_a_refused_connection_is_retried_once_then_named_with_its_address(
        unused_port: int) -> None:
    cfg = fake_provider_config(f"http://127.0.0.1:{unused_port}/v1", max_retries=3)
    p = OpenAIProvider("openrouter", cfg, {})  # HEAVY_LLM_BASE_URL keeps the default's name
    try:
        with pytest.raises(ProviderError) as info:
            await p.complete(ask())
    finally:
        await p.aclose()
    # The server the user configured, by its address; the address tried; no class names.
    assert str(info.value) == (f"LLM server http://127.0.0.1:{unused_port}/v1: connection "
                               f"refused at 127.0.0.1:{unused_port} (tried 2 times)")
    assert info.value.unreachable and not info.value.retryable  # the engine stops the run


async def test_an_unknown_host_is_retried_once_then_named() -> None:
    # .invalid never resolves (RFC 6761), with or without a network.
    p = OpenAIProvider("local", fake_provider_config("http://no-such-host.invalid:8080/v1"), {})
    try:
        with pytest.raises(ProviderError) as info:
            await p.complete(ask())
    finally:
        await p.aclose()
    assert str(info.value) == ("LLM server http://no-such-host.invalid:8080/v1: could not "
                               "resolve host no-such-host.invalid (tried 2 times)")
    assert info.value.unreachable


async def test_errors_name_the_server_the_user_configured(fake_llm: FakeLLM) -> None:
    # HEAVY_LLM_BASE_URL at another server keeps the default provider's name, "openrouter":
    # the message names the address instead (without credentials).
    fake_llm.enqueue(error_reply(404, "no such model"))
    url = URL(fake_llm.base_url).with_user("user").with_password("pw")
    p = OpenAIProvider("openrouter", fake_provider_config(str(url)), {})
    try:
        with pytest.raises(ProviderError) as info:
            await p.complete(ask())
    finally:
        await p.aclose()
    assert str(info.value).startswith(f"LLM server {fake_llm.base_url}: unknown model")
    # OpenRouter itself is named as config.yaml names it.
    p = OpenAIProvider("openrouter", fake_provider_config("https://openrouter.ai/api/v1"), {})
    assert p._label("x") == "LLM provider 'openrouter': x"


async def test_server_going_away_then_coming_back(make: Any, fake_llm: FakeLLM) -> None:
    p = make()
    assert (await p.complete(ask())).content  # a pooled keep-alive connection now exists
    port = fake_llm.port
    await fake_llm.aclose()
    async with FakeLLM(port=port) as again:
        assert (await p.complete(ask())).content
        assert len(again.calls()) == 1


async def test_openrouter_error_inside_a_200_is_retried_or_final(
    make: Any, fake_llm: FakeLLM
) -> None:
    def in_200(code: int, message: str) -> Reply:
        return error_reply(200, body=json.dumps({"error": {"code": code, "message": message}}))

    fake_llm.enqueue(in_200(502, "upstream died"), "ok", in_200(402, "Insufficient credits"))
    p = make()
    assert (await p.complete(ask())).content == "ok"
    with pytest.raises(ProviderError, match="no credits"):
        await p.complete(ask())
    assert len(fake_llm.calls()) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),  # seconds
        ("0.25", 0.25),  # fractional seconds (some gateways)
        ("-4", 0.0),  # never negative
        (None, None),  # absent
        ("soon", None),  # nonsense
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after(value) == expected


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    wait = retry_after(format_datetime(when, usegmt=True))
    assert wait is not None and 28 <= wait <= 31


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (429, True),  # rate limited
        (500, True),  # server error
        (503, True),  # overloaded
        (408, True),  # the server timed the request out: another try may pass
        (409, True),  # a conflict (lock timeout): retried by the OpenAI SDK too
        (405, False),  # wrong method or URL: the same request fails the same way
        (413, False),  # the prompt is too large: it will not shrink by waiting
        (422, False),  # validation error (vLLM, LiteLLM): a bad request stays bad
    ],
)
async def test_only_transient_statuses_are_retried(
    make: Any, fake_llm: FakeLLM, status: int, retried: bool
) -> None:
    fake_llm.enqueue(error_reply(status, "try me"), "second try")
    p = make()
    if retried:
        assert (await p.complete(ask())).content == "second try"
        assert len(fake_llm.calls()) == 2
        return
    with pytest.raises(ProviderError, match=f"rejected \\({status}\\): try me") as info:
        await p.complete(ask())
    assert info.value.status == status and not info.value.retryable
    assert len(fake_llm.calls()) == 1


@pytest.mark.parametrize(("code", "retried"), [(503, True), (429, True), (422, False)])
async def test_error_codes_inside_a_200_follow_the_same_rule(
    make: Any, fake_llm: FakeLLM, code: int, retried: bool
) -> None:
    fake_llm.enqueue(error_reply(200, body=json.dumps({"error": {"code": code, "message": "m"}})),
                     "second try")
    p = make()
    if retried:
        assert (await p.complete(ask())).content == "second try"
    else:
        with pytest.raises(ProviderError, match=f"rejected \\({code}\\)"):
            await p.complete(ask())
    assert len(fake_llm.calls()) == (2 if retried else 1)


# -- final errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "check the environment variable FAKE_KEY"),  # names the variable, not the value
        (402, "no credits"),  # out of money: say so, do not retry
        (403, "access denied (403)"),  # moderation or forbidden
        (404, "unknown model 'fake/model'"),  # the model name is what to fix
        (400, "rejected (400)"),  # a bad request stays bad
    ],
)
async def test_final_statuses_are_not_retried_and_hide_the_key(
    make: Any, fake_llm: FakeLLM, status: int, expected: str
) -> None:
    # The provider echoes the key back; the message must not.
    fake_llm.enqueue(error_reply(status, f"bad thing for key {KEY}"), "never")
    with pytest.raises(ProviderError) as info:
        await make({"FAKE_KEY": KEY}, api_key_env="FAKE_KEY").complete(ask())
    assert expected in str(info.value)
    assert KEY not in str(info.value) and "supersecret" not in repr(info.value)
    assert info.value.status == status and not info.value.retryable
    assert len(fake_llm.calls()) == 1


async def test_401_without_the_variable_set_says_it_is_unset(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.api_key = KEY
    with pytest.raises(ProviderError, match="FAKE_KEY is not set"):
        await make(api_key_env="FAKE_KEY").complete(ask())


async def test_key_never_logged(
    make: Any, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake_llm.enqueue(error_reply(500, f"echo {KEY}"), "ok")
    await make({"FAKE_KEY": KEY}, api_key_env="FAKE_KEY").complete(ask())
    assert "attempt 1 failed" in caplog.text and KEY not in caplog.text


def test_provider_message_is_short_and_scrubbed() -> None:
    raw = json.dumps({"error": {"message": "x" * 500 + " Bearer abc.def sk-live-123456789"}})
    text = provider_message(raw.encode())
    assert len(text) <= 201 and "abc.def" not in text
    assert provider_message(b"<html>\n  502 Bad   Gateway</html>") == "<html> 502 Bad Gateway</html>"


# -- clients, limits, deadlines and cancellation ----------------------------------------------


async def test_one_client_per_fingerprint_shared_across_requests(fake_llm: FakeLLM) -> None:
    pool = ProviderPool({})
    try:
        a = pool.get("fake", fake_provider_config(fake_llm.base_url))
        b = pool.get("fake", fake_provider_config(fake_llm.base_url))
        c = pool.get("fake", fake_provider_config(fake_llm.base_url, max_concurrency=3))
        assert isinstance(a, OpenAIProvider) and isinstance(c, OpenAIProvider)
        assert a is b and a is not c and a._client is not c._client
        for _ in range(3):
            await a.complete(ask())
        await b.complete(ask())
    finally:
        await pool.aclose()
    # Sequential calls reuse one keep-alive connection of the shared client.
    assert len({r.peer for r in fake_llm.calls()}) == 1


async def test_the_pool_fingerprints_a_config_object_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counted: list[ProviderConfig] = []
    fingerprint = ProviderConfig.fingerprint

    def counting(self: ProviderConfig) -> str:
        counted.append(self)
        return fingerprint(self)

    monkeypatch.setattr(ProviderConfig, "fingerprint", counting)
    pool = ProviderPool({})
    try:
        config = fake_provider_config("http://127.0.0.1:9/v1")
        first = pool.get("fake", config)
        assert all(pool.get("fake", config) is first for _ in range(4))  # one run's agents
        assert len(counted) == 1
        other = fake_provider_config("http://127.0.0.1:9/v1")  # equal settings, new object
        assert pool.get("fake", other) is first and len(counted) == 2
        del other, counted[:]
        gc.collect()
        assert len(pool._keys) == 1  # the entry went with its object; the provider keeps its own
    finally:
        await pool.aclose()


async def test_max_concurrency_bounds_calls_in_flight(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.latency = 0.05
    p = make(max_concurrency=2)
    await asyncio.gather(*(p.complete(ask()) for _ in range(6)))
    events = sorted([(r.started, 1) for r in fake_llm.calls()]
                    + [(r.finished or 0.0, -1) for r in fake_llm.calls()])
    peak = level = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    assert peak == 2


async def test_cancellation_stops_the_http_request(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(hang_reply())
    task = asyncio.create_task(make().complete(ask()))
    await fake_llm.wait_for(lambda f: len(f.calls()) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake_llm.wait_for(lambda f: f.calls()[0].cancelled)


async def test_call_timeout_raises_and_frees_the_server(make: Any, fake_llm: FakeLLM) -> None:
    # The caller's timer (`call_model`, the `Provider` contract) is the call's only one.
    fake_llm.enqueue(hang_reply())
    budget = CallBudget(deadline=asyncio.get_running_loop().time() + 10, llm_call_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        await call_model(make(), ask(), budget, Usage())
    assert time.monotonic() - start < 5  # the reply would never come
    await fake_llm.wait_for(lambda f: f.calls()[0].cancelled)
    assert len(fake_llm.calls()) == 1


async def test_stream_stops_at_the_callers_timeout(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(hang_reply())
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):  # as the engine's synthesis step bounds a stream
            await collect(make(), ask(timeout=0.2))
    assert time.monotonic() - start < 5  # the stream would never end
    await fake_llm.wait_for(lambda f: f.calls()[0].cancelled)


async def test_loopback_servers_bypass_environment_proxies(
    make: Any, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{unused_port}"  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.setenv("ALL_PROXY", dead)
    assert (await make().complete(ask())).content


async def test_remote_servers_use_the_environment_proxy(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake acts as the proxy: a proxied request arrives with the absolute target URL.
    proxy = f"http://user:pw@127.0.0.1:{fake_llm.port}"
    for name, value in {"https_proxy": proxy, "http_proxy": proxy, "NO_PROXY": "internal"}.items():
        monkeypatch.setenv(name, value)
    p = OpenAIProvider("p", fake_provider_config("http://llm.example/v1"), {})
    try:
        await p.complete(ask())
    finally:
        await p.aclose()
    (rec,) = fake_llm.calls()
    assert rec.headers["host"] == "llm.example"
    assert rec.headers["proxy-authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://openrouter.ai/api/v1", {"HTTPS_PROXY": "proxy:3128"}, "http://proxy:3128"),  # bare host:port
        ("https://openrouter.ai/api/v1", {"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:1"}, "http://a:1"),  # lower case wins
        ("http://vllm.lan/v1", {"ALL_PROXY": "http://p:1"}, "http://p:1"),  # ALL_PROXY as fallback
        ("https://openrouter.ai/api/v1", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".openrouter.ai"}, None),  # suffix bypass
        ("https://openrouter.ai/api/v1", {"HTTPS_PROXY": "http://p:1", "no_proxy": "openrouter.ai:443"}, None),  # host:port matches the default port
        ("https://openrouter.ai/api/v1", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),  # everything bypassed
        ("https://openrouter.ai/api/v1", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "router.ai"}, "http://p:1"),  # suffixes match whole labels only
        ("http://localhost:11434/v1", {"HTTP_PROXY": "http://p:1"}, None),  # loopback never proxied
        ("http://[::1]:8000/v1", {"HTTP_PROXY": "http://p:1"}, None),  # IPv6 loopback too
        ("https://openrouter.ai/api/v1", {}, None),  # no proxy configured
    ],
)
def test_proxy_selection(
    url: str, env: dict[str, str], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = proxy_for(URL(url))
    assert (str(found) if found else None) == expected


# -- through the engine -----------------------------------------------------------------------


async def test_engine_run_over_the_openai_provider(fake_llm: FakeLLM) -> None:
    cfg = fake_config(fake_llm.base_url, agents=3, tools=["mark_task_complete"])
    async with Engine(cfg, env={}) as engine:
        result = await engine.run(HeavyRequest("Is Python fast enough?", cfg))
    assert result.status == "ok", result.error
    assert result.answer.startswith("## Answer")
    purposes = [r.purpose for r in fake_llm.calls()]
    assert purposes.count("decompose") == 1 and purposes.count("synthesis") == 1
    assert result.usage.prompt_tokens > 0 and result.usage.cost_usd > 0
    assert result.llm_calls == len(purposes)
    decompose = fake_llm.calls("decompose")[0].body
    assert decompose is not None
    assert decompose["messages"][0]["content"] == Prompts().decompose_for(3)


async def test_dropped_connection_before_reply_is_retried(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(drop_reply(), "after the drop")
    assert (await make().complete(ask())).content == "after the drop"
    assert len(fake_llm.calls()) == 2


async def test_stream_dropped_after_text_is_an_error_not_a_retry(
    make: Any, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(drop_reply("one two three four five six seven eight"), "never")
    seen: list[str] = []
    with pytest.raises(ProviderError, match="the stream broke"):
        async for item in make().stream(ask()):
            if isinstance(item, str):
                seen.append(item)
    assert seen and len(fake_llm.calls()) == 1  # text was shown: a retry would repeat it


async def test_stream_cancel_stops_the_http_request(make: Any, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(hang_reply())
    task = asyncio.create_task(collect(make(), ask()))
    await fake_llm.wait_for(lambda f: len(f.calls()) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake_llm.wait_for(lambda f: f.calls()[0].cancelled)
