"""The web page at `/` in headless Chromium: ask, watch the agents' rows, read the answer, Stop.

The server is a real `heavy serve` on the simulated model, paced at 0.3 s a call, so a run takes
a few seconds and its rows can be seen working.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .conftest import ServeProcess

ROWS = "#agents-table tbody tr"


def _ask(page: Any, question: str, agents: int) -> None:
    page.fill("#question", question)
    page.fill("#agents", str(agents))
    page.click("#ask-button")


def test_ask_watch_the_agents_and_read_the_answer(page: Any, server: ServeProcess) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_title("heavy")
    _ask(page, "Compare SQLite and PostgreSQL for a small team", 3)
    expect(page.locator(ROWS)).to_have_count(3, timeout=10_000)
    expect(page.locator(f"{ROWS}.running").first).to_be_visible(timeout=10_000)
    expect(page.locator("#phase")).to_contain_text(re.compile("researching|synthesising"))
    # The answer arrives rendered as Markdown (headings and a list), with its footer.
    expect(page.locator("#answer h2")).to_contain_text("Answer to: Compare SQLite",
                                                        timeout=20_000)
    expect(page.locator("#answer li")).to_have_count(3)
    expect(page.locator("#footer")).to_contain_text("3/3 agents")
    expect(page.locator("#footer")).to_contain_text("simulated")
    expect(page.locator(f"{ROWS}.ok")).to_have_count(3)
    expect(page.locator(f"{ROWS} .finding").first).to_contain_text("[simulated]")
    expect(page.locator("#phase")).to_contain_text("done")
    # ... and the job is listed with its status.
    expect(page.locator("#jobs li.job.done").first).to_contain_text("Compare SQLite")
    expect(page.locator("#stop-button")).to_be_disabled()


def test_stop_a_run(page: Any, server: ServeProcess) -> None:
    page.goto(server.url + "/")
    _ask(page, "A long question to stop", 16)
    expect(page.locator(ROWS)).to_have_count(16, timeout=10_000)
    page.click("#stop-button")
    expect(page.locator("#phase")).to_contain_text("cancelled", timeout=10_000)
    expect(page.locator("#notes")).to_contain_text("cancelled")
    expect(page.locator("#jobs li.job.cancelled").first).to_contain_text("A long question")


def test_answers_are_escaped_not_run(page: Any, server: ServeProcess) -> None:
    page.goto(server.url + "/")
    _ask(page, 'What does <img src=x onerror="document.title=1"> do?', 1)
    expect(page.locator("#footer")).to_contain_text("1/1 agents", timeout=20_000)
    expect(page.locator("#answer")).to_contain_text('<img src=x onerror="document.title=1">')
    assert page.locator("#answer img").count() == 0
    expect(page).to_have_title("heavy")


def test_with_a_token_the_page_asks_for_it_once(
    page: Any, tmp_path: Path, browser: Any
) -> None:
    token = "page-token-" + "x" * 20
    server = ServeProcess(tmp_path, HEAVY_API_TOKEN=token, HEAVY_SIMULATED_PACE="0")
    try:
        page.goto(server.url + "/")
        expect(page.locator("#token-form")).to_be_visible()  # the job list needed it
        page.fill("#token", token)
        page.click("#token-form button")
        expect(page.locator("#token-form")).to_be_hidden()
        _ask(page, "With a token?", 2)
        expect(page.locator("#footer")).to_contain_text("2/2 agents", timeout=20_000)
        assert page.evaluate("sessionStorage.getItem('heavy-api-token')") == token
    finally:
        server.stop()
