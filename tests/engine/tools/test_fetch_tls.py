"""`fetch_url` over TLS: connected to the pinned address, SNI and certificate checked for the name."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from heavy_engine.tools import FetchUrl, execute_tool

from .conftest import ROUTES, FakeResolver, LocalServer, make_ctx

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for public.example only."""
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "1",
         "-subj", "/CN=public.example", "-addext", "subjectAltName=DNS:public.example"],
        check=True, capture_output=True,
    )
    return crt, key


@pytest.fixture
async def tls_server(cert: tuple[Path, Path]) -> AsyncIterator[LocalServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    srv = LocalServer(routes=dict(ROUTES))
    tcp = await asyncio.start_server(srv.handle, "127.0.0.1", 0, ssl=ctx)
    srv.port = tcp.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        tcp.close()
        await asyncio.gather(*srv.tasks, return_exceptions=True)
        await tcp.wait_closed()


async def fetch(url: str, cert: Path) -> str:
    tool = FetchUrl(
        resolver=FakeResolver({"public.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}),
        ssl_context=ssl.create_default_context(cafile=str(cert)),
    )
    ctx = make_ctx(Path("."), fetch_allow_hosts=["127.0.0.1"])
    return (await execute_tool(tool, "fetch_url", json.dumps({"url": url}), ctx, timeout=5)).text


async def test_tls_to_the_pinned_address_with_the_host_name(
    tls_server: LocalServer, cert: tuple[Path, Path]
) -> None:
    text = await fetch(f"https://public.example:{tls_server.port}/echo-host", cert[0])
    assert text.endswith(f"host=public.example:{tls_server.port}")


async def test_the_certificate_is_checked_against_the_name(
    tls_server: LocalServer, cert: tuple[Path, Path]
) -> None:
    text = await fetch(f"https://other.example:{tls_server.port}/echo-host", cert[0])
    assert text.startswith("error: cannot connect to other.example"), text
    assert "certificate" in text.lower() or "hostname" in text.lower()
