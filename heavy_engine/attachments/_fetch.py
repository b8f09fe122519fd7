"""Download a message's attachments and turn them into `Attachments`.

Each download streams with a timeout and stops as soon as the size cap is passed (the declared
size is not trusted): the raw bytes are decoded here a piece at a time (`_decode`), so a gzip
bomb stops at the cap too. Redirects are followed only to origins the policy allows, and the bot
token is sent only there. Text and PDFs are read in worker processes (`_pool`), killed at the
deadline. Nothing raises for a bad file: every file not used becomes a note.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence

import httpx

from ._decode import ACCEPTED, Decoder, EncodingRefused
from ._extract import image_type, kind_of
from ._policy import HostPolicy
from ._pool import ExtractFailed, ExtractPool, shared_pool
from ._types import (
    Attachment,
    AttachmentLimits,
    Attachments,
    Document,
    Image,
    clean_name,
    size_text,
)

log = logging.getLogger("heavy.attachments")
_MAX_REDIRECTS = 3


class _Skip(Exception):
    """Why a file is not used; `str(err)` follows "skipped <name>: "."""


_TLS: ssl.SSLContext | None = None


async def _tls() -> ssl.SSLContext:
    """One TLS context for every download. Building one reads the CA bundle: ~45-130 ms, and
    each new `httpx.AsyncClient` built its own on the event loop, once per message."""
    global _TLS
    if _TLS is None:
        _TLS = await asyncio.to_thread(httpx.create_ssl_context)  # off the loop, once
    return _TLS


async def download(client: httpx.AsyncClient, url: str, policy: HostPolicy, cap: int,
                   seconds: float) -> bytes:
    """The body of `url`, at most `cap` bytes; raises `_Skip` with the reason otherwise."""
    try:
        async with asyncio.timeout(seconds):
            for _ in range(_MAX_REDIRECTS + 1):
                if not policy.allows(url):
                    raise _Skip(f"not from {policy.where}")
                request = client.build_request(
                    "GET", url, headers={**dict(policy.headers), "Accept-Encoding": ACCEPTED})
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        url = str(response.url.join(response.headers.get("location", "")))
                        continue
                    if response.status_code != 200:
                        raise _Skip(f"download failed (HTTP {response.status_code})")
                    if (policy.platform == "slack"
                            and response.headers.get("content-type", "").startswith("text/html")):
                        # Slack answers a missing `files:read` scope with its sign-in page.
                        raise _Skip("download failed (Slack sent a sign-in page; is the "
                                    "files:read scope granted?)")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > cap:
                        raise _Skip(f"over {size_text(cap)}")
                    return await _read_capped(response, cap)
                finally:
                    await response.aclose()
            raise _Skip("download failed (too many redirects)")
    except TimeoutError:
        raise _Skip(f"download timed out after {seconds:g} s") from None
    except EncodingRefused as err:
        raise _Skip(str(err)) from None
    except httpx.HTTPError as err:
        raise _Skip(f"download failed ({type(err).__name__})") from None


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The decoded body; `_Skip` once it passes `cap` (holding at most cap + one piece)."""
    decoder = Decoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for chunk in response.aiter_raw():
        for n, piece in enumerate(decoder.feed(chunk), 1):
            body += piece
            if len(body) > cap:
                raise _Skip(f"over {size_text(cap)}")
            if n % 16 == 0:
                await asyncio.sleep(0)  # a long run of pieces: let the loop breathe
    decoder.finish()
    return bytes(body)


async def _one(client: httpx.AsyncClient, att: Attachment, policy: HostPolicy,
               limits: AttachmentLimits, pool: ExtractPool) -> Document | Image:
    kind = kind_of(att)
    if kind is None:
        raise _Skip("unsupported type")
    cap = {"text": limits.max_text_bytes, "pdf": limits.max_pdf_bytes,
           "image": limits.max_image_bytes}[kind]
    if att.size is not None and att.size > cap:
        raise _Skip(f"over {size_text(cap)}")
    if not att.url:  # e.g. Slack hides old files on free plans, external files have none
        raise _Skip("no download link")
    if att.size == 0:
        raise _Skip("empty file (0 bytes)")
    data = await download(client, att.url, policy, cap, limits.timeout)
    if not data:
        raise _Skip("empty file (0 bytes)")
    name = clean_name(att.name)
    if kind == "image":
        mime = image_type(data)
        if mime is None:
            raise _Skip("not a PNG, JPEG, GIF or WebP image")
        return Image(name, mime, data)
    try:
        got = await pool.run(kind, data, seconds=limits.timeout, max_pages=limits.max_pdf_pages)
    except ExtractFailed as err:
        raise _Skip(f"PDF {err}" if kind == "pdf" else str(err)) from None
    if "skip" in got:
        raise _Skip(str(got["skip"]))
    text, pages = str(got["text"]), int(got.get("pages", 0))
    if kind == "text":
        return Document(name, "text", text.strip())
    if not text.strip():
        raise _Skip("PDF has no text layer (scanned?)")
    if pages > limits.max_pdf_pages:
        text += f"\n\n[only the first {limits.max_pdf_pages} of {pages} pages were read]"
    return Document(name, "pdf", text)


async def fetch_attachments(
    files: Sequence[Attachment],
    policy: HostPolicy,
    limits: AttachmentLimits | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    pool: ExtractPool | None = None,
) -> Attachments:
    """Download and extract `files` concurrently; never raises for a bad file.

    `client` is the seam for tests and shared pools (its transport may be a MockTransport);
    redirects are handled here, so it must not follow them itself. `pool` reads the files'
    text (default: the process's shared pool of worker processes).
    """
    limits = limits or AttachmentLimits()
    out = Attachments()
    taken, skipped = list(files[: limits.max_files]), files[limits.max_files:]
    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=False, timeout=limits.timeout,
                                       verify=await _tls())
    readers = pool or shared_pool()
    try:
        found = await asyncio.gather(*(_one(http, a, policy, limits, readers) for a in taken),
                                     return_exceptions=True)
    finally:
        if own:
            await http.aclose()
    budget = limits.max_total_chars
    for att, item in zip(taken, found, strict=True):
        name = clean_name(att.name)
        if isinstance(item, _Skip):
            out.notes.append(f"skipped {name}: {item}")
        elif isinstance(item, BaseException):
            if not isinstance(item, Exception):
                raise item  # cancellation and the like go through
            log.warning("attachment %s failed: %r", name, item)
            out.notes.append(f"skipped {name}: could not be read")
        elif isinstance(item, Image):
            if len(out.images) >= limits.max_images:
                out.notes.append(f"skipped {name}: more than {limits.max_images} images")
            else:
                out.images.append(item)
        elif budget <= 0:
            out.notes.append(f"skipped {name}: the attachments' text limit "
                             f"({limits.max_total_chars:,} characters) was reached")
        else:
            if len(item.text) > budget:
                out.notes.append(f"{name}: only the first {budget:,} characters were read")
                item = Document(item.name, item.kind, item.text[:budget], truncated=True)
            budget -= len(item.text)
            out.documents.append(item)
    for att in skipped:
        out.notes.append(f"skipped {clean_name(att.name)}: more than {limits.max_files} "
                         "files in one message")
    return out
