"""`openai`: any OpenAI-compatible chat-completions server (OpenRouter, OpenAI, vLLM, Ollama...).

Invariants:
- one HTTP client session per instance (the pool keeps one instance per provider settings),
  with a connection limit equal to `max_concurrency`, guarded by a semaphore of the same size;
- retries live here only (the client never retries): 408, 409, 429, 5xx, timeouts, connection
  errors and unreadable bodies, capped exponential backoff with full jitter, `Retry-After`
  honoured, all planned within the call's `request.timeout` (a wait that would pass it fails
  at once); every other 4xx is final (a bad request stays bad however often it is sent),
  except a 400/422 that refuses an optional field (`tools`, `response_format`: vLLM without
  tool parsing, Ollama models without tool support): the call goes once more without it, and
  that model is not sent the field again in this process (one warning);
- a server that is not there (connection refused, a host name that does not resolve) gets one
  retry, then the error is `unreachable` and the engine stops the run: waiting 4 backoffs per
  call for a mistyped `HEAVY_LLM_BASE_URL` only delays the message that says so;
- messages name the server the user configured: OpenRouter by the provider's name, any other
  server by its address (`HEAVY_LLM_BASE_URL` keeps the default provider's name);
- the caller enforces `request.timeout` (the `Provider` contract): no timer of our own, which
  was a second one per call (uvloop timers cost ~3% of the CPU at 1,000 concurrent questions);
- the key comes from the environment variable the config names and never appears in a message.

The client is aiohttp, not httpx: httpcore's connection pool rescans every connection on each
request (quadratic at hundreds of concurrent calls) and cost ~10 ms of CPU per call at 100
concurrent calls, against a budget of 0.5 ms; aiohttp's pool and C parser stay near 0.2 ms.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from typing import NoReturn

import aiohttp
from yarl import URL

from ..core import ChatRequest, Completion, ProviderConfig, ProviderError
from ._connect import DirectConnector
from ._openai_wire import (
    BadReply,
    StreamState,
    encode_body,
    optional_fields,
    parse_completion,
    provider_message,
    refused_field,
    retry_after,
)

log = logging.getLogger("heavy.providers.openai")

_TRANSIENT_4XX = frozenset({408, 409, 429})  # what the OpenAI SDK retries too, with 5xx
_CONNECT_TIMEOUT = 10.0  # a TCP/TLS handshake that takes longer is worth another try
_FIELD_TEXT = {"tools": "tools (tool calling)",
               "response_format": "response_format json_object (JSON mode)"}
_REFUSABLE = frozenset({400, 422})  # a bad request: a field the server does not take
_NETWORK_TEXT = {
    "ClientConnectorError": "cannot connect to the server",
    "ServerDisconnectedError": "the server closed the connection",
    "ClientPayloadError": "the reply was cut off",
    "ConnectionTimeoutError": "connecting timed out",
    "SocketTimeoutError": "the server stopped sending",
}


def _final(status: int | None) -> bool:
    """An error status that another try would only repeat."""
    return status is not None and 400 <= status < 500 and status not in _TRANSIENT_4XX


class _Refused(Exception):
    """The server refused an optional field (`tools`, `response_format`): send it no more."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class _Retry(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None,
                 *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.wait = wait
        self.unreachable = unreachable  # refused or unresolvable: one retry, then the run stops


def proxy_for(url: URL) -> URL | None:
    """The proxy for `url` as the standard library finds it (`getproxies` / `proxy_bypass`:
    `*_proxy` and `NO_PROXY` from the environment, `all_proxy` as a fallback). Loopback servers (Ollama, llama.cpp, the fake)
    never go through a proxy: it cannot reach them.

    Resolved once per provider rather than per request (aiohttp's `trust_env` does a thread hop
    and a `.netrc` lookup on every request, and `.netrc` credentials could replace our token).
    """
    host = url.host or ""
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    proxies = urllib.request.getproxies()
    chosen = proxies.get(url.scheme) or proxies.get("all")
    if loopback or not chosen or urllib.request.proxy_bypass(f"{host}:{url.port}"):
        return None
    return URL(chosen if "://" in chosen else f"http://{chosen}")


def _network(err: aiohttp.ClientError) -> _Retry:
    """The failure in words, with the address; never an exception class's name."""
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return _Retry(f"could not resolve host {err.host}", unreachable=True)
    if isinstance(err, aiohttp.ClientConnectorError):
        address = f"{err.host}:{err.port}"
        if isinstance(err.os_error, ConnectionRefusedError):
            return _Retry(f"connection refused at {address}", unreachable=True)
        why = err.os_error.strerror or _NETWORK_TEXT["ClientConnectorError"]
        return _Retry(f"cannot connect to {address} ({why})")
    name = type(err).__name__
    return _Retry(_NETWORK_TEXT.get(name, "the connection failed"))


class OpenAIProvider:
    """Chat completions over HTTP with retries, usage and cost accounting."""

    def __init__(self, name: str, config: ProviderConfig, env: Mapping[str, str]) -> None:
        assert config.base_url is not None  # the config validator guarantees it
        self.name = name
        self.config = config
        base = config.base_url.rstrip("/")
        self._url = URL(f"{base}/chat/completions")
        self._shown_url = str(self._url.with_user(None).with_query(None))  # for errors: no secrets
        host = self._url.host or ""
        self.openrouter = host == "openrouter.ai" or host.endswith(".openrouter.ai")
        self._who = (f"LLM provider {name!r}" if self.openrouter
                     else f"LLM server {URL(base).with_user(None).with_query(None)}")
        self._key = config.api_key(env)
        self._secrets = (self._key,) if self._key else ()
        self._headers = {"Content-Type": "application/json", **config.headers}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        proxy = proxy_for(self._url)
        auth = aiohttp.BasicAuth.from_url(proxy) if proxy else None
        self._proxy = proxy.with_user(None) if proxy else None
        self._proxy_headers: dict[str, str] | None = None
        if auth is not None:
            # HTTPS goes through a CONNECT tunnel that carries the credentials; plain HTTP is
            # forwarded by the proxy, so the credentials ride on every request instead.
            if self._url.scheme == "https":
                self._proxy_headers = {"Proxy-Authorization": auth.encode()}
            else:
                self._headers["Proxy-Authorization"] = auth.encode()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._session: aiohttp.ClientSession | None = None
        # Fields each model's server refused with a 400, for the life of the process.
        self._refused: dict[str, frozenset[str]] = {}

    def _client(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp wants a running loop, and the pool may build us outside one.
        if self._session is None:
            n = self.config.max_concurrency
            self._session = aiohttp.ClientSession(
                connector=DirectConnector(limit=n, limit_per_host=n, keepalive_timeout=30),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT),
                trust_env=False,  # proxies are resolved once in __init__ (see proxy_for)
                raise_for_status=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- public API --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Completion:
        """One call, whole answer, retried as the config allows within `request.timeout`
        (which the caller enforces: see `Provider`)."""
        deadline = asyncio.get_running_loop().time() + request.timeout
        body, sent = self._body(request, stream=False)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    return await self._attempt(body, request, sent)
            except _Refused as refused:
                self._refuse(request.model, refused)
                body, sent = self._body(request, stream=False)
                attempt -= 1  # the same call without the field: not a retry of a failure
            except _Retry as retry:
                await self._backoff(retry, attempt, deadline, request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        """Text deltas, then one `Completion`. Retries happen only before the first delta."""
        deadline = asyncio.get_running_loop().time() + request.timeout
        body, sent = self._body(request, stream=True)
        attempt = 0
        while True:
            attempt += 1
            state = StreamState(request.model)
            started = False
            try:
                async with self._slots:
                    response = await self._post(body)
                    try:
                        await self._check_status(response, request, sent)
                        buffer = b""
                        while True:
                            chunk = await response.content.readany()
                            if not chunk:
                                break
                            *lines, buffer = (buffer + chunk).split(b"\n")
                            for line in lines:
                                text = self._sse_line(line, state)
                                if text:
                                    started = True
                                    yield text
                    finally:
                        response.release()
            except _Refused as refused:
                self._refuse(request.model, refused)
                body, sent = self._body(request, stream=True)
                attempt -= 1
                continue
            except BadReply as err:
                if started:
                    raise ProviderError(self._label(f"the stream broke: {err}")) from None
                retry = self._bad_reply(err)
            except aiohttp.ClientError as err:
                if started:
                    raise ProviderError(self._label(f"the stream broke: {_network(err)}")) from None
                retry = _network(err)
            except _Retry as r:
                retry = r
            else:
                if not state.done and not state.parts and not state.calls:
                    retry = _Retry("the stream ended before any answer")
                else:
                    yield state.completion()
                    return
            await self._backoff(retry, attempt, deadline, request)

    # -- fields a server refuses -------------------------------------------------------------

    def _body(self, request: ChatRequest, *, stream: bool) -> tuple[bytes, frozenset[str]]:
        """The body without the fields this model's server refused, and the optional fields
        it still carries."""
        omit = self._refused.get(request.model, frozenset())
        body = encode_body(request, stream=stream, openrouter=self.openrouter, omit=omit)
        return body, optional_fields(request) - omit

    def _refuse(self, model: str, refused: _Refused) -> None:
        """Remember a refused field for `model` and say so once: the run goes on without it."""
        known = self._refused.get(model, frozenset())
        if refused.field in known:
            return
        self._refused[model] = known | {refused.field}
        without = ("its agents answer without tools" if refused.field == "tools" else
                   "the decomposition asks for JSON in words only")
        log.warning("LLM provider %r: the server refused %s for model %r (%s); %s from now on",
                    self.name, _FIELD_TEXT[refused.field], model, refused, without)

    # -- one attempt -------------------------------------------------------------------------

    async def _post(self, body: bytes) -> aiohttp.ClientResponse:
        try:
            return await self._client().post(
                self._url, data=body, proxy=self._proxy, proxy_headers=self._proxy_headers
            )
        except aiohttp.ClientError as err:
            raise _network(err) from None

    async def _attempt(
        self, body: bytes, request: ChatRequest, sent: frozenset[str]
    ) -> Completion:
        response = await self._post(body)
        try:
            await self._check_status(response, request, sent)
            raw = await response.read()
        except aiohttp.ClientError as err:
            raise _network(err) from None
        finally:
            response.release()
        try:
            return parse_completion(raw, request.model)
        except BadReply as err:
            raise self._bad_reply(err) from None

    @staticmethod
    def _sse_line(line: bytes, state: StreamState) -> str | None:
        if not line.startswith(b"data:"):
            return None  # blank separators, "event:" lines and ": keep-alive" comments
        payload = line[5:].strip()
        if payload == b"[DONE]":
            state.done = True
            return None
        return state.feed(payload)

    async def _check_status(
        self, response: aiohttp.ClientResponse, request: ChatRequest, sent: frozenset[str]
    ) -> None:
        status = response.status
        if status < 400:
            return
        try:
            raw = await response.read()
        except aiohttp.ClientError:
            raw = b""
        if status in _REFUSABLE and sent and (field := refused_field(raw, sent)):
            raise _Refused(field, f"{status}: {provider_message(raw, self._secrets)}")
        if _final(status):
            self._fail(status, raw, request)
        wait = retry_after(response.headers.get("Retry-After"))
        raise _Retry(f"HTTP {status}: {provider_message(raw, self._secrets)}", status, wait)

    def _bad_reply(self, err: BadReply) -> _Retry:
        if err.status is not None and _final(err.status):
            self._fail(err.status, str(err).encode(), None)
        detail = provider_message(str(err).encode(), self._secrets)
        return _Retry(f"unreadable reply ({detail})", err.status)

    # -- errors and backoff ------------------------------------------------------------------

    def _label(self, text: str) -> str:
        return f"{self._who}: {text}"

    def _fail(self, status: int, raw: bytes, request: ChatRequest | None) -> NoReturn:
        detail = provider_message(raw, self._secrets)
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
        if retry.unreachable and attempt > min(1, cfg.max_retries):
            raise ProviderError(self._label(f"{retry} (tried {attempt} times)"),
                                retryable=False, unreachable=True)
        if attempt > cfg.max_retries:
            raise ProviderError(
                self._label(f"gave up after {attempt} attempts at {self._shown_url}: {retry}"),
                status=retry.status, retryable=True,
            )
        cap = min(cfg.retry_max_delay, cfg.retry_base_delay * 2 ** (attempt - 1))
        wait = retry.wait if retry.wait is not None else random.uniform(0, cap)
        if wait >= deadline - asyncio.get_running_loop().time():
            raise ProviderError(
                self._label(f"{retry}; retrying in {wait:.1f} s would pass the "
                            f"{request.timeout:g} s call timeout"),
                status=retry.status, retryable=True,
            )
        log.info("provider %s: attempt %d failed (%s); retrying in %.2f s",
                 self.name, attempt, retry, wait)
        await asyncio.sleep(wait)


def _factory(name: str, config: ProviderConfig, env: Mapping[str, str]) -> OpenAIProvider:
    return OpenAIProvider(name, config, env)
