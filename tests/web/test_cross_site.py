"""A hostile page in a real Chromium against a real `heavy serve` with no API token (loopback
trusted): it tries a text/plain form POST, a `no-cors` fetch and a DNS-rebound name. None may
create a job or read one.

The attacker's page is served by a second local aiohttp server on another port, under the name
`attacker.test`, which Chromium resolves to 127.0.0.1 (`--host-resolver-rules`): the same thing a
rebinding DNS server does once the page has loaded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import pytest_asyncio
from aiohttp import web

from .conftest import ARGS, CHROMIUM, ServeProcess

pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.asyncio(loop_scope="session")

# A text/plain form whose one field name and value join into a JSON body: `name=value`.
_FORM_NAME = '{"question": "spend the budget (form)", "agents": 1, "user": "'
_PAGE = """<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{api}/api/ask">
  <input type="hidden" name='{name}' value='x"}}'>
</form>
<script>
async function noCors() {{
  await fetch("{api}/api/ask", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}},
    body: JSON.stringify({{question: "spend the budget (no-cors)", agents: 1}})}});
  return "sent";
}}
</script></body></html>"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hostile(browser: Any, tmp_path_factory: pytest.TempPathFactory,
                  ) -> AsyncIterator[tuple[ServeProcess, str, Any]]:
    """(heavy serve, the attacker page's URL, a Chromium that maps attacker.test to us)."""
    heavy = await asyncio.to_thread(ServeProcess, tmp_path_factory.mktemp("serve"))
    html = _PAGE.format(api=heavy.url, name=_FORM_NAME.replace("'", "&#39;"))

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*ARGS, "--host-resolver-rules=MAP attacker.test 127.0.0.1"])
        try:
            yield heavy, f"http://attacker.test:{port}/", chromium
        finally:
            await chromium.close()
            await runner.cleanup()
            await asyncio.to_thread(heavy.stop)


def _jobs(heavy: ServeProcess) -> list[dict[str, Any]]:
    """The jobs asked through heavy's API, read the legitimate way (this test is local)."""
    with urlopen(heavy.url + "/api/jobs", timeout=10) as resp:
        return list(json.load(resp)["jobs"])


async def test_a_cross_site_page_creates_no_job(hostile: tuple[ServeProcess, str, Any]) -> None:
    heavy, attacker, chromium = hostile
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(attacker)
        assert await page.evaluate("noCors()") == "sent"  # opaque: the page learns nothing
        async with page.expect_navigation() as navigation:
            await page.evaluate("document.getElementById('f').submit()")
        form = await (await navigation.value).text() if await navigation.value else ""
    finally:
        await context.close()
    achieved = await asyncio.to_thread(_jobs, heavy)
    assert achieved == [], f"the page created jobs: {achieved}"
    assert "application/json" in form or "another site" in form or "cross-site" in form


async def test_a_rebound_name_reads_nothing(hostile: tuple[ServeProcess, str, Any],
                                            tmp_path: Path) -> None:
    """After rebinding, attacker.test:<heavy's port> *is* heavy to the browser: a page there is
    same-origin with the API, so only the Host check stands between it and the jobs."""
    heavy, _, chromium = hostile
    port = heavy.url.rsplit(":", 1)[1]
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        resp = await page.goto(f"http://attacker.test:{port}/api/jobs")
        assert resp is not None
        status, body = resp.status, await resp.text()
    finally:
        await context.close()
    assert status == 421, f"the rebound name read: {status} {body[:200]}"
    assert '"jobs"' not in body
