"""`fetch_url`: SSRF refusals (IPv4, IPv6, DNS, redirects), size and time limits, readable text."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from heavy_engine.tools import FetchUrl, execute_tool, forbidden_reason, parse_ip

from .conftest import FakeResolver, LocalServer, make_ctx, response

RESOLVER = FakeResolver({
    "internal.example": ["10.1.2.3"],  # a name that resolves to a private address
    "mixed.example": ["93.184.216.34", "127.0.0.1"],  # one bad address is enough to refuse
    "v6internal.example": ["fd12:3456::1"],
    "metadata.example": ["169.254.169.254"],
    "public.example": ["127.0.0.1"],  # "public-looking"; 127.0.0.1 is allow-listed where used
})
# Where the local server must be reachable: its address is allowed, the limits are small.
LOCAL = {"fetch_allow_hosts": ["127.0.0.1"], "fetch_max_bytes": 1_000_000}


async def fetch(scratch: Path, url: str, *, limit_s: float = 5, resolver: object = RESOLVER,
                **settings: object) -> str:
    tool = FetchUrl(resolver=resolver)  # type: ignore[arg-type]
    ctx = make_ctx(scratch, **settings)
    res = await execute_tool(tool, "fetch_url", json.dumps({"url": url}), ctx, timeout=limit_s)
    return res.text


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
    ("http://127.0.0.1:8080/admin", "refused: 127.0.0.1 is a loopback address"),
    ("http://[::1]/", "refused: ::1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/",
     "refused: 169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "refused: fd00:ec2::254 is a cloud metadata address"),
    ("http://100.100.100.200/", "refused: 100.100.100.200 is a cloud metadata address"),
    ("http://10.0.0.1", "refused: 10.0.0.1 is a private address"),
    ("https://192.168.1.1/", "refused: 192.168.1.1 is a private address"),
    ("http://172.16.5.4/", "refused: 172.16.5.4 is a private address"),
    ("http://169.254.1.1/", "refused: 169.254.1.1 is a link-local address"),
    ("http://[fe80::1]/", "refused: fe80::1 is a link-local address"),
    ("http://0.0.0.0/", "refused: 0.0.0.0 is an unspecified address"),
    ("http://[::]/", "refused: :: is an unspecified address"),
    ("http://224.0.0.1/", "refused: 224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/", "refused: ff02::1 is a multicast address"),
    ("http://100.64.0.1/", "refused: 100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("http://240.0.0.1/", "refused: 240.0.0.1 is a private address"),
    ("http://[fd12::1]/", "refused: fd12::1 is a private address"),
    # IPv6 forms that smuggle an IPv4 address
    ("http://[::ffff:127.0.0.1]/", "refused: ::ffff:7f00:1 is a loopback address (it carries IPv4"),
    ("http://[::ffff:a9fe:a9fe]/", "refused: ::ffff:a9fe:a9fe is a cloud metadata address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "refused: 64:ff9b::a9fe:a9fe is a cloud metadata address"),
    ("http://[2002:7f00:1::]/", "refused: 2002:7f00:1:: is a loopback address"),
    # schemes
    ("file:///etc/passwd", "refused: only http and https URLs can be fetched, not file:"),
    ("gopher://127.0.0.1:70/_stats", "refused: only http and https URLs can be fetched, not gopher:"),
    ("ftp://example.com/x", "refused: only http and https URLs can be fetched, not ftp:"),
    ("javascript:alert(1)", "refused: only http and https URLs can be fetched, not javascript:"),
    ("//example.com/x", "refused: only http and https URLs can be fetched, not a URL without"),
    # names: every resolved address is checked, not just the first
    ("http://internal.example/", "refused: internal.example resolves to 10.1.2.3, which is a private address"),
    ("http://mixed.example/", "refused: mixed.example resolves to 127.0.0.1, which is a loopback address"),
    ("http://v6internal.example/", "refused: v6internal.example resolves to fd12:3456::1, which is a private"),
    ("http://metadata.example/", "refused: metadata.example resolves to 169.254.169.254, which is a cloud metadata"),
    ("http://user:pass@127.0.0.1/", "refused: 127.0.0.1 is a loopback address"),
    ("http://nowhere.example/", "error: cannot resolve nowhere.example"),
])
async def test_hostile_urls_are_refused(scratch: Path, url: str, expected: str) -> None:
    text = await fetch(scratch, url)
    assert text.startswith(expected), text


@pytest.mark.parametrize("url", [
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://127.1/",  # shorthand inet_aton accepts
    "http://0x7f.0.0.1/",  # hexadecimal octet
    "http://localhost/",
])
async def test_odd_loopback_spellings_are_caught_after_resolution(scratch: Path, url: str) -> None:
    # The real resolver: these need no DNS (numeric forms, /etc/hosts).
    from heavy_engine.tools import system_resolver

    text = await fetch(scratch, url, resolver=system_resolver)
    assert text.startswith("refused: "), text
    assert "is a loopback address" in text or "resolves to" in text


async def test_allowed_local_page_becomes_readable_text(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/page", "public.example"), **LOCAL)
    assert text.startswith(f"URL: {server.url('/page', 'public.example')}\nTitle: Hello page")
    assert "Welcome" in text and "Visible & readable text." in text and "- one" in text
    assert "SCRIPT-CONTENT" not in text and "color:red" not in text


async def test_connects_to_the_checked_address_and_keeps_the_host_name(
    scratch: Path, server: LocalServer
) -> None:
    # "public.example" has no real DNS record: success proves the connection went to the
    # address checked (127.0.0.1) while the Host header kept the name.
    resolver = FakeResolver({"public.example": ["127.0.0.1"]})
    text = await fetch(scratch, server.url("/echo-host", "public.example"), resolver=resolver,
                       **LOCAL)
    assert text.endswith(f"host=public.example:{server.port}")
    assert resolver.lookups == ["public.example"]  # resolved once: no second, unchecked lookup


async def test_dns_rebinding_cannot_swap_the_address(scratch: Path, server: LocalServer) -> None:
    class Rebinding(FakeResolver):
        async def __call__(self, host: str, port: int) -> list[str]:
            self.lookups.append(host)  # public first, then (too late) the metadata address
            return ["127.0.0.1"] if len(self.lookups) == 1 else ["169.254.169.254"]

    resolver = Rebinding({})
    text = await fetch(scratch, server.url("/echo-host", "rebind.example"), resolver=resolver,
                       **LOCAL)
    assert text.endswith(f"host=rebind.example:{server.port}")
    assert len(resolver.lookups) == 1


@pytest.mark.parametrize(("target", "expected"), [
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[::1]:{port}/secret", "::1 is a loopback address"),
    ("http://internal.example/", "internal.example resolves to 10.1.2.3, which is a private"),
    ("file:///etc/passwd", "only http and https URLs can be fetched, not file:"),
])
async def test_each_redirect_hop_is_checked_again(
    scratch: Path, server: LocalServer, target: str, expected: str
) -> None:
    start = server.url(f"/redirect?to={target.format(port=server.port)}", "public.example")
    text = await fetch(scratch, start, **LOCAL)
    assert text.startswith(f"refused: {start} redirected to "), text
    assert text.endswith(expected) or expected in text
    assert [r.path for r in server.requests] == ["/redirect"]  # the target was never asked


async def test_a_relative_redirect_is_followed(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/redirect?to=/page", "public.example"), **LOCAL)
    assert "Welcome" in text


async def test_redirect_loops_stop(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/loop", "public.example"), **LOCAL)
    assert text == "error: too many redirects (more than 5)"


@pytest.mark.parametrize(("path", "expected"), [
    ("/big", "refused: the response is 50,000,000 bytes, over the 1,000,000-byte limit"),
    ("/big-chunked", "refused: the response is larger than the 1,000,000-byte limit"),
    ("/bomb", "refused: the response decompresses to more than 1,000,000 bytes (a compression bomb?)"),
])
async def test_size_limits(scratch: Path, server: LocalServer, path: str, expected: str) -> None:
    start = time.monotonic()
    assert await fetch(scratch, server.url(path, "public.example"), **LOCAL) == expected
    assert time.monotonic() - start < 3


async def test_gzip_within_limits_is_decoded(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/gzip", "public.example"), **LOCAL)
    assert text.endswith("compressed but fine")


async def test_a_silent_server_times_out(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/hang", "public.example"), limit_s=0.3, **LOCAL)
    assert text == "error: fetch_url timed out after 0.3 s"


async def test_binary_content_is_not_returned(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/binary", "public.example"), **LOCAL)
    assert text.startswith("error: ") and "application/octet-stream" in text


async def test_http_errors_are_reported(scratch: Path, server: LocalServer) -> None:
    text = await fetch(scratch, server.url("/missing", "public.example"), **LOCAL)
    assert text.endswith("answered HTTP 404")


async def test_allow_list_entries_are_narrow(scratch: Path, server: LocalServer) -> None:
    # 127.0.0.1 is allowed; the rest of 127.0.0.0/8 is not.
    assert (await fetch(scratch, "http://127.0.0.2/", **LOCAL)).startswith(
        "refused: 127.0.0.2 is a loopback address")


async def test_allow_list_by_host_name(scratch: Path, server: LocalServer) -> None:
    resolver = FakeResolver({"wiki.corp": ["10.9.9.9"], "docs.corp": ["127.0.0.1"]})
    assert (await fetch(scratch, "http://wiki.corp/", resolver=resolver,
                        fetch_allow_hosts=["docs.corp"])).startswith("refused: wiki.corp resolves")
    text = await fetch(scratch, server.url("/echo-host", "docs.corp"), resolver=resolver,
                       fetch_allow_hosts=["*.corp"])
    assert text.endswith(f"host=docs.corp:{server.port}")


@pytest.mark.parametrize(("address", "reason"), [
    ("8.8.8.8", None),  # public
    ("2606:4700:4700::1111", None),  # public IPv6
    ("::ffff:8.8.8.8", None),  # mapped public
    ("127.0.0.1", "a loopback address"),
    ("192.0.2.1", "a private address"),  # TEST-NET documentation range
    ("198.18.0.1", "a private address"),  # benchmarking range
    ("fe80::1%eth0", "a link-local address"),  # scope id stripped
    ("2001:db8::1", "a private address"),  # IPv6 documentation
    ("64:ff9b::808:808", None),  # well-known NAT64 prefix carrying a public IPv4 address
    # Local-use NAT64 (RFC 8215) spreads the IPv4 address around bits 64-71, so the last 32
    # bits say nothing: this one carries 10.0.0.1 for a translator inside the network.
    ("64:ff9b:1:a00:0:100:808:808", "a local-use NAT64 address"),
    ("64:ff9b:1::808:808", "a local-use NAT64 address"),
])
def test_forbidden_reason(address: str, reason: str | None) -> None:
    addr = parse_ip(address)
    assert addr is not None
    assert forbidden_reason(addr) == reason


async def test_international_names_are_resolved_as_punycode(scratch: Path) -> None:
    resolver = FakeResolver({"xn--bcher-kva.example": ["10.0.0.9"]})
    text = await fetch(scratch, "http://bücher.example/", resolver=resolver)
    assert text == ("refused: xn--bcher-kva.example resolves to 10.0.0.9, which is a private "
                    "address")


async def test_corrupt_gzip_is_an_error(scratch: Path, server: LocalServer) -> None:
    async def bad(req: object, w: asyncio.StreamWriter) -> None:
        w.write(response(200, b"not gzip at all", Content_Encoding="gzip"))

    server.routes["/bad-gzip"] = bad
    text = await fetch(scratch, server.url("/bad-gzip", "public.example"), **LOCAL)
    assert text.startswith("error: the response's gzip data is corrupt")


async def _pathological(req: object, w: asyncio.StreamWriter) -> None:
    # 900 KB that CPython's html.parser would chew on for hours: every '<' rescans to the end.
    w.write(response(200, b"<p>Readable start.</p>" + b"<a " * 300_000, "text/html"))


async def test_a_page_that_is_slow_to_parse_is_cut_off(
    scratch: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("heavy_engine.tools._html.PARSE_BUDGET_S", 0.3)
    server.routes["/slow-html"] = _pathological
    start, cpu = time.monotonic(), time.thread_time()
    text = await fetch(scratch, server.url("/slow-html", "public.example"), **LOCAL)
    # Stopped early: little of the loop's CPU (a machine busy with other work stretches the
    # wall time, not this), and nowhere near the hours a whole parse takes.
    assert time.thread_time() - cpu < 3 and time.monotonic() - start < 30
    assert "Readable start." in text
    assert text.endswith("[the rest of the page was not read: its HTML took too long to parse]")


async def test_a_tool_timeout_also_stops_the_parsing_thread(
    scratch: Path, server: LocalServer
) -> None:
    server.routes["/slow-html"] = _pathological
    text = await fetch(scratch, server.url("/slow-html", "public.example"), limit_s=0.5, **LOCAL)
    assert text == "error: fetch_url timed out after 0.5 s"
    await asyncio.sleep(0.2)  # the parser notices the stop at its next callback
    cpu = time.process_time()
    await asyncio.sleep(0.5)
    assert time.process_time() - cpu < 0.2  # no thread is still parsing the abandoned page
