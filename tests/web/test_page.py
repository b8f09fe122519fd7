"""The web page at `/` in headless Chromium: ask, watch the agents' rows, read the answer, Stop.

The server is a real `heavy serve` on the simulated model, paced at 0.3 s a call, so a run takes
a few seconds and its rows can be seen working.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ServeProcess

# A dev dependency; without it the conftest's `browser` fixture says why (or fails, in CI).
expect = pytest.importorskip("playwright.async_api").expect

ROWS = "#agents-table tbody tr"
# Every test here runs on the session's loop, where the browser lives.
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _ask(page: Any, question: str, agents: int) -> None:
    await page.fill("#question", question)
    await page.fill("#agents", str(agents))
    await page.click("#ask-button")


async def test_ask_watch_the_agents_and_read_the_answer(page: Any, server: ServeProcess) -> None:
    await page.goto(server.url + "/")
    await expect(page).to_have_title("heavy")
    # What the page showed while it ran, recorded as it happened: on a loaded machine a paced
    # simulated run can be over before a poll from here sees a running row.
    await page.evaluate("""() => {
        window.seen = {running: false, phases: new Set()};
        new MutationObserver(() => {
            if (document.querySelector('#agents-table tbody tr.running')) window.seen.running = true;
            window.seen.phases.add(document.querySelector('#phase')?.textContent || '');
        }).observe(document.body, {subtree: true, childList: true, attributes: true,
                                   characterData: true});
    }""")
    await _ask(page, "Compare SQLite and PostgreSQL for a small team", 3)
    await expect(page.locator(ROWS)).to_have_count(3, timeout=60_000)
    # The answer arrives rendered as Markdown (headings and a list), with its footer.
    await expect(page.locator("#answer h2")).to_contain_text("Answer to: Compare SQLite",
                                                        timeout=20_000)
    await expect(page.locator("#answer li")).to_have_count(3)
    await expect(page.locator("#footer")).to_contain_text("3/3 agents")
    await expect(page.locator("#footer")).to_contain_text("simulated")
    await expect(page.locator(f"{ROWS}.ok")).to_have_count(3)
    assert await page.evaluate("window.seen.running")  # rows were shown working
    phases = " ".join(await page.evaluate("[...window.seen.phases]"))
    assert re.search("researching|synthesising", phases), phases
    await expect(page.locator(f"{ROWS} .finding").first).to_contain_text("[simulated]")
    await expect(page.locator("#phase")).to_contain_text("done")
    # ... and the job is listed with its status.
    await expect(page.locator("#jobs li.job.done").first).to_contain_text("Compare SQLite")
    await expect(page.locator("#stop-button")).to_be_disabled()


async def test_stop_a_run(page: Any, server: ServeProcess) -> None:
    await page.goto(server.url + "/")
    await _ask(page, "A long question to stop", 16)
    await expect(page.locator(ROWS)).to_have_count(16, timeout=10_000)
    await page.click("#stop-button")
    await expect(page.locator("#phase")).to_contain_text("cancelled", timeout=10_000)
    await expect(page.locator("#notes")).to_contain_text("cancelled")
    await expect(page.locator("#jobs li.job.cancelled").first).to_contain_text("A long question")


async def test_answers_are_escaped_not_run(page: Any, server: ServeProcess) -> None:
    await page.goto(server.url + "/")
    await _ask(page, 'What does <img src=x onerror="document.title=1"> do?', 1)
    await expect(page.locator("#footer")).to_contain_text("1/1 agents", timeout=20_000)
    await expect(page.locator("#answer")).to_contain_text('<img src=x onerror="document.title=1">')
    assert await page.locator("#answer img").count() == 0
    await expect(page).to_have_title("heavy")


async def test_with_a_token_the_page_asks_for_it_once(
    page: Any, tmp_path: Path, browser: Any
) -> None:
    token = "page-token-" + "x" * 20
    server = await asyncio.to_thread(ServeProcess, tmp_path, HEAVY_API_TOKEN=token,
                                     HEAVY_SIMULATED_PACE="0")
    try:
        await page.goto(server.url + "/")
        await expect(page.locator("#token-form")).to_be_visible()  # the job list needed it
        await page.fill("#token", token)
        await page.click("#token-form button")
        await expect(page.locator("#token-form")).to_be_hidden()
        await _ask(page, "With a token?", 2)
        await expect(page.locator("#footer")).to_contain_text("2/2 agents", timeout=20_000)
        assert await page.evaluate("sessionStorage.getItem('heavy-api-token')") == token
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.parametrize(("markdown", "html"), [
    ("# Title", "<h1>Title</h1>"),  # heading
    ("**bold** and *it* and `a<b`", "<p><strong>bold</strong> and <em>it</em> and "
                                   "<code>a&lt;b</code></p>"),  # inline, code escaped
    ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),  # list
    ("1. one\n2. two", "<ol><li>one</li><li>two</li></ol>"),  # ordered list
    ("```\n<script>x</script>\n```", "<pre><code>&lt;script&gt;x&lt;/script&gt;</code></pre>"),
    ("| a | b |\n|---|---|\n| 1 | 2 |",
     "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr>"
     "</tbody></table>"),  # a table
    ("[docs](https://example.org/a?b=1&c=2)",
     '<p><a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer" '
     'target="_blank">docs</a></p>'),  # http(s) links only
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),  # never a script link
    ('<img src=x onerror="alert(1)">', "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>"),
    ("> quoted", "<blockquote><p>quoted</p></blockquote>"),
])
async def test_the_markdown_renderer(
    page: Any, server: ServeProcess, markdown: str, html: str
) -> None:
    await page.goto(server.url + "/")
    assert await page.evaluate("(md) => window.heavyMarkdown.render(md)", markdown) == html


async def test_the_page_has_an_icon(page: Any, server: ServeProcess) -> None:
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    await page.goto(server.url + "/")
    href = await page.locator("link[rel=icon]").get_attribute("href")
    assert href == "/favicon.ico"  # where browsers look without being told, too
    size = await page.evaluate("""async () => {
        const img = new Image();
        img.src = "/favicon.ico";
        await img.decode();  // fails unless it is an image the browser can draw
        return [img.naturalWidth, img.naturalHeight];
    }""")
    assert size[0] > 0 and size[1] > 0
    assert missing == []
