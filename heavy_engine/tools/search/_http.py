"""The one way a back-end talks HTTP: bounded, no redirects, failures as `BackendFailed`.

No SSRF guard on purpose, as for `web_search` before back-ends existed: the host is the
operator's (`search.base_url` in config.yaml; a channel picks only among configured back-ends),
and the model controls only the query, sent as a URL parameter or a JSON field, never the host
or path. So a self-hosted SearXNG on an internal address works without `fetch_allow_hosts`.
What a hostile or compromised API could still try is closed here: redirects are not followed
(a 3xx is a failure, so no bounce to an internal address), bodies are capped, and result URLs
go back to the model only as text; reading one goes through `fetch_url`, which checks it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import httpx

from ._backend import BackendFailed

MAX_RESPONSE_BYTES = 2_000_000
ERROR_BODY_BYTES = 4096
# How long a back-end that throttled us is left alone when it does not say (Retry-After), and
# the most we honour: asking again at once only prolongs a block.
THROTTLE_REST_S = 30.0
MAX_REST_S = 600.0
USER_AGENT = "Mozilla/5.0 (compatible; heavy-bot/0.1)"


_tls: ssl.SSLContext | None = None


async def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every search (httpx's default: certifi's CAs). Loading the
    CA bundle costs ~100 ms of CPU, which a client built per call spent on the event loop each
    time; this builds it once, in a thread."""
    global _tls
    if _tls is None:
        _tls = await asyncio.to_thread(httpx.create_ssl_context)
    return _tls


def new_client(timeout: float, tls: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """One client per `web_search` call, shared by the back-ends it tries."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=tls,
                             headers={"User-Agent": USER_AGENT})


def retry_after(value: str | None) -> float:
    """Seconds to rest from a Retry-After header (delta seconds; an HTTP date or garbage: the
    default), within 1 s and `MAX_REST_S`."""
    try:
        seconds = float(value) if value is not None else THROTTLE_REST_S
    except ValueError:
        seconds = THROTTLE_REST_S
    if seconds != seconds:  # NaN
        seconds = THROTTLE_REST_S
    return min(max(seconds, 1.0), MAX_REST_S)


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate limited, HTTP 429"
    if status in (401, 403):
        return f"refused the request, HTTP {status}: check its key and base_url"
    if 300 <= status < 400:
        return f"redirected, HTTP {status}: base_url should be the API's root"
    return f"answered HTTP {status}"


async def fetch(client: httpx.AsyncClient, request: httpx.Request) -> tuple[int, str, bytes]:
    """(status, content type, body) of a 2xx answer, at most `MAX_RESPONSE_BYTES`."""
    try:
        response = await client.send(request, stream=True)
        try:
            if not 200 <= response.status_code < 300:
                rest = (retry_after(response.headers.get("retry-after"))
                        if response.status_code == 429 else None)
                raise BackendFailed(_status_reason(response.status_code), response.status_code,
                                    rest_s=rest, body=await _start_of(response))
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise BackendFailed("answered more than 2 MB")
            return response.status_code, response.headers.get("content-type", ""), bytes(body)
        finally:
            await response.aclose()
    # httpx's messages can quote the URL; the type name is enough and carries nothing secret
    except httpx.TimeoutException:
        raise BackendFailed("timed out") from None
    except httpx.ConnectError:
        raise BackendFailed("unreachable, no connection") from None
    except httpx.HTTPError as err:
        raise BackendFailed(f"failed: {type(err).__name__}") from None


async def _start_of(response: httpx.Response, limit: int = ERROR_BODY_BYTES) -> bytes:
    """The first bytes of an error answer (an API's error code), without reading the rest."""
    head = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= limit:
                break
    except httpx.HTTPError:
        pass  # the status already says what failed
    return bytes(head[:limit])


def json_answer(content_type: str, body: bytes) -> dict[str, Any]:
    """The JSON object of an API answer; an HTML page instead (a bot check, a login or
    captcha page in front of the API) is a failure like any other."""
    text = body.lstrip()[:1].decode("latin-1")
    if "html" in content_type or text == "<":
        raise BackendFailed("answered a web page instead of JSON: a challenge page?",
                            rest_s=THROTTLE_REST_S)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BackendFailed("answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise BackendFailed("answered JSON that is not an object")
    return data
