"""`openai`: any OpenAI-compatible chat-completions server (OpenRouter, OpenAI, vLLM, Ollama...).

Invariants:
- one `httpx.AsyncClient` per instance (the pool keeps one instance per provider settings), with
  connection limits equal to `max_concurrency`, guarded by a semaphore of the same size;
- retries live here only (httpx transport retries stay 0): 429, 5xx, timeouts, connection errors
  and unreadable bodies, capped exponential backoff with full jitter, `Retry-After` honoured,
  all inside the call's `request.timeout`; 400/401/402/403/404 are final;
- the key comes from the environment variable the config names and never appears in a message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import AsyncIterator, Mapping
from typing import NoReturn
from urllib.parse import urlsplit

import httpx

from .._config import ProviderConfig
from .._errors import ProviderError
from .._types import ChatRequest, Completion
from ._base import register_provider
from ._openai_wire import (
    BadReply,
    StreamState,
    encode_body,
    parse_completion,
    provider_message,
    retry_after,
)

log = logging.getLogger("heavy.providers.openai")

_FINAL = frozenset({400, 401, 402, 403, 404})
_NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Retry(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.wait = wait


class OpenAIProvider:
    """Chat completions over HTTP with retries, usage and cost accounting."""

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        env: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        assert config.base_url is not None  # the config validator guarantees it
        self.name = name
        self.config = config
        base = config.base_url.rstrip("/")
        host = urlsplit(base).hostname or ""
        self._url = f"{base}/chat/completions"
        self._openrouter = host == "openrouter.ai" or host.endswith(".openrouter.ai")
        self._key = config.api_key(env)
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **config.headers}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        n = config.max_concurrency
        # Proxies from the environment are honoured (operators behind corporate proxies need
        # them), except for loopback servers (Ollama, the fake): a proxy cannot reach those.
        self._client = httpx.AsyncClient(
            headers=headers,
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            timeout=httpx.Timeout(60.0),
            trust_env=not _is_loopback(host),
            transport=transport,
        )
        self._slots = asyncio.Semaphore(n)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- public API --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Completion:
        """One call, whole answer, retried as the config allows within `request.timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout
        body = encode_body(request, stream=False, openrouter=self._openrouter)
        attempt = 0
        async with asyncio.timeout_at(deadline):
            while True:
                attempt += 1
                try:
                    async with self._slots:
                        return await self._attempt(body, request, deadline - loop.time())
                except _Retry as retry:
                    await self._backoff(retry, attempt, deadline, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Completion]:
        """Text deltas, then one `Completion`. Retries happen only before the first delta."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout
        body = encode_body(request, stream=True, openrouter=self._openrouter)
        attempt = 0
        while True:
            attempt += 1
            state = StreamState(request.model)
            started = False
            try:
                async with self._slots:
                    async with asyncio.timeout_at(deadline):
                        response = await self._send(body, deadline - loop.time(), stream=True)
                    try:
                        await self._check_status(response, request)
                        lines = response.aiter_lines()
                        while True:
                            # The deadline bounds each read; never hold a timeout across a yield.
                            async with asyncio.timeout_at(deadline):
                                line = await anext(lines, None)
                            if line is None or line == "data: [DONE]":
                                break
                            if not line.startswith("data:"):
                                continue  # blank separators and ": keep-alive" comments
                            text = state.feed(line[5:].lstrip())
                            if text:
                                started = True
                                yield text
                    finally:
                        await response.aclose()
            except BadReply as err:
                if started:
                    raise ProviderError(self._label(f"the stream broke: {err}")) from None
                retry = self._bad_reply(err)
            except _NETWORK_ERRORS as err:
                if started:
                    raise ProviderError(self._label("the connection dropped mid-stream")) from None
                retry = _Retry(type(err).__name__)
            except _Retry as r:
                retry = r
            else:
                yield state.completion()
                return
            async with asyncio.timeout_at(deadline):
                await self._backoff(retry, attempt, deadline, request)

    # -- one attempt -------------------------------------------------------------------------

    async def _send(self, body: bytes, remaining: float, *, stream: bool) -> httpx.Response:
        timeout = httpx.Timeout(remaining, connect=min(remaining, 10.0))
        req = self._client.build_request("POST", self._url, content=body, timeout=timeout)
        try:
            return await self._client.send(req, stream=stream)
        except _NETWORK_ERRORS as err:
            raise _Retry(type(err).__name__) from None

    async def _attempt(self, body: bytes, request: ChatRequest, remaining: float) -> Completion:
        response = await self._send(body, remaining, stream=True)
        try:
            await self._check_status(response, request)
            try:
                raw = await response.aread()
            except _NETWORK_ERRORS as err:
                raise _Retry(type(err).__name__) from None
        finally:
            await response.aclose()
        try:
            return parse_completion(raw, request.model)
        except BadReply as err:
            raise self._bad_reply(err) from None

    async def _check_status(self, response: httpx.Response, request: ChatRequest) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            raw = await response.aread()
        except _NETWORK_ERRORS:
            raw = b""
        if status in _FINAL:
            self._fail(status, raw, request)
        wait = retry_after(response.headers.get("Retry-After"))
        raise _Retry(f"HTTP {status}: {provider_message(raw, (self._key or '',))}", status, wait)

    def _bad_reply(self, err: BadReply) -> _Retry:
        status = err.status
        if status is not None and status in _FINAL:
            self._fail(status, str(err).encode(), None)
        return _Retry(f"unreadable reply ({provider_message(str(err).encode(), (self._key or '',))})",
                      status)

    # -- errors and backoff ------------------------------------------------------------------

    def _label(self, text: str) -> str:
        return f"LLM provider {self.name!r}: {text}"

    def _fail(self, status: int, raw: bytes, request: ChatRequest | None) -> NoReturn:
        detail = provider_message(raw, (self._key or "",))
        env = self.config.api_key_env
        if status == 401:
            if env and not self._key:
                why = f"no API key: the environment variable {env} is not set"
            elif env:
                why = f"the API key was rejected (401); check the environment variable {env}"
            else:
                why = "the server wants an API key (401); set api_key_env for this provider"
        elif status == 402:
            why = "the account has no credits left (402 Payment Required); add credits"
        elif status == 404:
            model = request.model if request else "requested"
            why = f"unknown model {model!r} (404): {detail}"
        elif status == 403:
            why = f"access denied (403): {detail}"
        else:
            why = f"the request was rejected ({status}): {detail}"
        raise ProviderError(self._label(why), status=status, retryable=False)

    async def _backoff(
        self, retry: _Retry, attempt: int, deadline: float, request: ChatRequest
    ) -> None:
        cfg = self.config
        if attempt > cfg.max_retries:
            raise ProviderError(
                self._label(f"gave up after {attempt} attempts: {retry}"),
                status=retry.status, retryable=True,
            )
        cap = min(cfg.retry_max_delay, cfg.retry_base_delay * 2 ** (attempt - 1))
        wait = retry.wait if retry.wait is not None else random.uniform(0, cap)
        remaining = deadline - asyncio.get_running_loop().time()
        if wait >= remaining:
            raise ProviderError(
                self._label(f"{retry}; retrying in {wait:.1f} s would pass the "
                            f"{request.timeout:g} s call timeout"),
                status=retry.status, retryable=True,
            )
        log.info("provider %s: attempt %d failed (%s); retrying in %.2f s",
                 self.name, attempt, retry, wait)
        await asyncio.sleep(wait)


@register_provider("openai")
def _factory(name: str, config: ProviderConfig, env: Mapping[str, str]) -> OpenAIProvider:
    return OpenAIProvider(name, config, env)
