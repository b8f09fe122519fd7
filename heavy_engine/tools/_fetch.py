"""`fetch_url`: read a public web page as text, safely against SSRF and oversized answers.

Each hop (the URL and every redirect) is parsed, its host resolved and every address checked by
`_netguard`; the connection is then made to a checked address through a pinned httpcore network
backend, while the Host header and TLS SNI/certificate check still use the host name. httpcore
is used directly (not httpx) so that no proxy from the environment and no automatic redirect or
decompression can bypass these checks. Bodies are streamed under a byte cap before and after
decompression.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from pydantic import BaseModel, Field

from ._base import Tool, ToolContext, ToolFailed, ToolRefused
from ._html import html_to_text
from ._netguard import AllowList, Resolver, checked_addresses, system_resolver

MAX_REDIRECTS = 5
USER_AGENT = "heavy-bot/0.1 (+https://github.com/heavy-bot/heavy)"
_TIMEOUTS = {"connect": 10.0, "read": 15.0, "write": 10.0, "pool": 10.0}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens every TCP connection to one checked address, whatever host the URL names."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(
            self.address, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ToolRefused("unix sockets cannot be fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(slots=True)
class Page:
    url: str
    content_type: str
    body: bytes


def parse_url(raw: str) -> httpx.URL:
    """A fetchable URL, or `ToolRefused` (scheme) / `ToolFailed` (malformed)."""
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as err:
        raise ToolFailed(f"not a valid URL: {err}") from None
    if url.scheme not in ("http", "https"):
        shown = f"{url.scheme}:" if url.scheme else "a URL without a scheme"
        raise ToolRefused(f"only http and https URLs can be fetched, not {shown}")
    if not url.host:
        raise ToolFailed(f"{raw!r} has no host name")
    return url.copy_with(fragment=None)


def _ascii_host(url: httpx.URL) -> str:
    """The host as DNS sees it (IDNA/punycode), so allow-list entries match what is resolved."""
    return url.raw_host.decode("ascii")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), "").strip()


class _Decoder:
    """Undo Content-Encoding with a cap on the decoded size (the gzip-bomb guard)."""

    def __init__(self, encoding: str, limit: int) -> None:
        encoding = encoding.lower()
        self.encoding, self.limit, self.size = encoding, limit, 0
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise ToolFailed(f"the server sent an unsupported content encoding ({encoding})")

    def feed(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            return chunk
        try:
            # Ask for one byte more than the room left: getting it means the cap is exceeded.
            out: bytes = self._zlib.decompress(chunk, self.limit - self.size + 1)
        except zlib.error as err:
            raise ToolFailed(f"the response's {self.encoding} data is corrupt ({err})") from None
        self.size += len(out)
        if self.size > self.limit:
            raise ToolRefused(
                f"the response decompresses to more than {self.limit:,} bytes "
                "(a compression bomb?)"
            )
        return out


async def _get_once(
    url: httpx.URL, address: str, max_bytes: int, ssl_context: ssl.SSLContext | None
) -> tuple[int, str, str, bytes]:
    """One GET to `address`: (status, location, content type, decoded body)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=port, target=url.raw_path)
    headers = [
        (b"Host", url.netloc), (b"User-Agent", USER_AGENT.encode()),
        (b"Accept", b"text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"),
        (b"Accept-Encoding", b"gzip, deflate"), (b"Connection", b"close"),
    ]
    backend = PinnedBackend(address)
    async with httpcore.AsyncConnectionPool(
        network_backend=backend, ssl_context=ssl_context, retries=0
    ) as pool:
        async with pool.stream(
            "GET", target, headers=headers, extensions={"timeout": _TIMEOUTS}
        ) as resp:
            raw_headers: list[tuple[bytes, bytes]] = resp.headers
            location = _header(raw_headers, b"location")
            ctype = _header(raw_headers, b"content-type")
            if resp.status in _REDIRECTS and location:
                return resp.status, location, ctype, b""
            declared = _header(raw_headers, b"content-length")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ToolRefused(
                    f"the response is {int(declared):,} bytes, over the {max_bytes:,}-byte limit"
                )
            decoder = _Decoder(_header(raw_headers, b"content-encoding"), max_bytes)
            received, parts = 0, []
            async for chunk in resp.aiter_stream():
                received += len(chunk)
                if received > max_bytes:
                    raise ToolRefused(f"the response is larger than the {max_bytes:,}-byte limit")
                parts.append(decoder.feed(chunk))
            return resp.status, "", ctype, b"".join(parts)


async def fetch(
    url_text: str,
    ctx: ToolContext,
    resolver: Resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> Page:
    """GET `url_text`, following up to MAX_REDIRECTS redirects, each hop checked again."""
    allow = AllowList.parse(ctx.settings.fetch_allow_hosts)
    url, via = parse_url(url_text), ""
    for _hop in range(MAX_REDIRECTS + 1):
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await checked_addresses(_ascii_host(url), port, allow, resolver)
        except ToolRefused as err:
            raise ToolRefused(f"{via}{err}") from None
        status, location, ctype, body = await _connect_any(url, addresses, ctx, ssl_context)
        if not location:
            if not 200 <= status < 300:
                raise ToolFailed(f"{url} answered HTTP {status}")
            return Page(str(url), ctype, body)
        via = f"{url} redirected to {location}: "
        try:
            url = parse_url(str(url.join(location)))
        except httpx.InvalidURL as err:
            raise ToolFailed(f"{via}not a valid URL ({err})") from None
        except (ToolRefused, ToolFailed) as err:
            raise type(err)(f"{via}{err}") from None
    raise ToolFailed(f"too many redirects (more than {MAX_REDIRECTS})")


async def _connect_any(
    url: httpx.URL, addresses: list[str], ctx: ToolContext, ssl_context: ssl.SSLContext | None
) -> tuple[int, str, str, bytes]:
    """Try the checked addresses in order until one accepts the connection."""
    last: Exception | None = None
    for address in addresses:
        try:
            return await _get_once(url, address, ctx.settings.fetch_max_bytes, ssl_context)
        except httpcore.ConnectError as err:
            last = err
        except httpcore.TimeoutException:
            raise ToolFailed(f"{url.host} did not answer in time") from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as err:
            detail = str(err) or type(err).__name__
            raise ToolFailed(f"the connection to {url.host} failed ({detail})") from None
    raise ToolFailed(f"cannot connect to {url.host} ({last or 'no address'})")


def _charset(content_type: str) -> str:
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    return m.group(1) if m else "utf-8"


def page_text(page: Page, stop: threading.Event | None = None) -> str:
    """The page as text for the model, headed by its final URL (and title for HTML).

    Setting `stop` (from another thread) ends the HTML parse early.
    """
    mime = page.content_type.split(";", 1)[0].strip().lower()
    try:
        text = page.body.decode(_charset(page.content_type), errors="replace")
    except LookupError:  # an unknown charset name
        text = page.body.decode("utf-8", errors="replace")
    if mime in ("text/html", "application/xhtml+xml") or (not mime and "<html" in text[:500].lower()):
        title, text = html_to_text(text, stop=stop)
        head = f"URL: {page.url}\nTitle: {title}\n\n" if title else f"URL: {page.url}\n\n"
        return head + text
    if mime and not (mime.startswith(_TEXT_TYPES) or mime.endswith(("+json", "+xml"))):
        raise ToolFailed(f"{page.url} is {mime}, which fetch_url cannot read as text")
    return f"URL: {page.url}\n\n{text.strip()}"


class _Params(BaseModel):
    url: str = Field(description="The http:// or https:// URL of the page to read.")


class FetchUrl(Tool):
    name = "fetch_url"
    description = (
        "Fetch a public web page (http or https) and return its readable text. Private, local "
        "and cloud-internal addresses are refused."
    )
    Params = _Params

    def __init__(
        self, resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._resolver: Resolver = resolver or system_resolver
        self._ssl_context = ssl_context  # None: httpcore's default (certifi, verified)

    async def run(self, params: _Params, ctx: ToolContext) -> str:
        page = await fetch(params.url, ctx, self._resolver, self._ssl_context)
        # html.parser needs ~0.3 s per MB: off the event loop so other agents keep going. A
        # thread cannot be cancelled, so a timeout or cancel tells the parse to stop instead.
        stop = threading.Event()
        try:
            return await asyncio.to_thread(page_text, page, stop)
        finally:
            stop.set()
