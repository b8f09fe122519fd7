"""A run on the web page from start to end and after: on a phone's width, stopped, reopened
from Recent jobs, its end shown at once, its synthesis streamed rendered.

The server is a real `heavy serve` on the simulated model, paced at 0.3 s a call (its synthesis
streams a word every 10 ms), so a run takes a few seconds.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from .conftest import ServeProcess

expect = pytest.importorskip("playwright.async_api").expect

ROWS = "#agents-table tbody tr"
PHONE = {"width": 390, "height": 844}  # an iPhone 12-14's CSS width
pytestmark = pytest.mark.asyncio(loop_scope="session")

# Everything the page draws when the run ends, noted by a MutationObserver in the same turn of
# the event loop as the footer (the answer's last line), so "at once" needs no timing.
WATCH_THE_END = """() => {
  window.atEnd = null;
  new MutationObserver(() => {
    if (window.atEnd || !document.getElementById("footer").textContent) return;
    const li = document.querySelector("#jobs li.job");
    window.atEnd = {stop: document.getElementById("stop-button").disabled,
                    job: li ? li.className + " " + li.textContent : null,
                    message: document.getElementById("message").textContent};
  }).observe(document.body, {subtree: true, childList: true, characterData: true,
                             attributes: true});
}"""

# The streaming synthesis, noted the first time it shows a rendered heading; and how often the
# Markdown renderer ran.
WATCH_THE_STREAM = """() => {
  window.renders = 0;
  const render = window.heavyMarkdown.render;
  window.heavyMarkdown.render = (text) => { window.renders++; return render(text); };
  window.streaming = null;
  const answer = document.getElementById("answer");
  new MutationObserver(() => {
    if (window.streaming || !answer.classList.contains("streaming")) return;
    if (!answer.querySelector("h2")) return;
    window.streaming = {phase: document.getElementById("phase").textContent,
                        top: answer.getBoundingClientRect().top + window.scrollY,
                        font: getComputedStyle(answer).fontFamily,
                        text: answer.textContent, pre: document.querySelectorAll("pre").length};
  }).observe(answer, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def phone(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=PHONE)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _ask(page: Any, question: str, agents: int) -> str:
    """Ask on the page; returns the job's id once its run is on screen."""
    await page.fill("#question", question)
    await page.fill("#agents", str(agents))
    await page.click("#ask-button")
    await expect(page.locator("#phase")).to_contain_text("job ", timeout=10_000)
    return str(re.search(r"job (\w+)", await page.locator("#phase").text_content())[1])


async def _fits(page: Any, screenshot: Path) -> None:
    """Nothing wider than the phone, the agents' time and tokens on screen."""
    await page.screenshot(path=str(screenshot), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for cell in ("time", "tokens"):
        boxes = await page.locator(f"{ROWS} .{cell}").evaluate_all(
            "cells => cells.map(c => { const r = c.getBoundingClientRect();"
            " return [r.left, r.right, getComputedStyle(c).display]; })")
        assert boxes, cell
        for left, right, display in boxes:
            assert display != "none" and 0 <= left <= right <= PHONE["width"], (cell, boxes)


async def test_at_390_px_nothing_overflows(phone: Any, server: ServeProcess,
                                           tmp_path: Path) -> None:
    await phone.goto(server.url + "/")
    # The token form, as a server with HEAVY_API_TOKEN shows it, fits too.
    await phone.evaluate("document.getElementById('token-form').hidden = false")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The widest the page ever was while an agent ran, recorded as it happened: on a loaded
    # machine a paced simulated run can end between two polls from here.
    await phone.evaluate("""() => {
        window.running = {seen: 0, widest: 0};
        new MutationObserver(() => {
            if (!document.querySelector('#agents-table tbody tr.running')) return;
            window.running.seen += 1;
            window.running.widest = Math.max(window.running.widest,
                                             document.documentElement.scrollWidth);
        }).observe(document.body, {subtree: true, childList: true, attributes: true,
                                   characterData: true});
    }""")
    # A long unbroken word (a URL) in the question: it reaches every sub-question and the answer.
    await _ask(phone, "Is https://example.org/a/long/path/without/any/spaces/to/break/on/at/all "
                      "a good home for our team's internal documentation and tools?", 6)
    await expect(phone.locator("#footer")).to_contain_text("6/6 agents", timeout=60_000)
    running = await phone.evaluate("window.running")
    assert running["seen"] and running["widest"] <= PHONE["width"], running
    await _fits(phone, tmp_path / "done.png")


async def test_stop_says_stopped_once_the_run_has_stopped(page: Any, server: ServeProcess) -> None:
    await page.goto(server.url + "/")
    await page.evaluate(WATCH_THE_END)
    job_id = await _ask(page, "A question to stop half-way", 16)
    await expect(page.locator(ROWS)).to_have_count(16, timeout=10_000)
    await page.click("#stop-button")
    await expect(page.locator("#phase")).to_contain_text("cancelled", timeout=10_000)
    await expect(page.locator("#message")).to_have_text("stopped")
    at_end = await page.evaluate("window.atEnd")
    assert at_end["stop"] is True and at_end["job"].startswith("job cancelled"), at_end
    # Reopened later, the stopped job still says so, with its agents.
    await page.goto(server.url + "/")
    await page.click(f"#jobs li[data-id='{job_id}'] a")
    await expect(page.locator("#phase")).to_contain_text(f"job {job_id} · cancelled")
    await expect(page.locator(ROWS)).to_have_count(16)
    await expect(page.locator("#message")).to_have_text("")
    await expect(page.locator("#stop-button")).to_be_disabled()


async def test_the_end_of_a_run_shows_at_once_on_stop_and_recent_jobs(
    page: Any, server: ServeProcess
) -> None:
    await page.goto(server.url + "/")
    await page.evaluate(WATCH_THE_END)
    await _ask(page, "How fast does the page notice the end?", 2)
    await expect(page.locator("#footer")).to_contain_text("2/2 agents", timeout=20_000)
    at_end = await page.evaluate("window.atEnd")
    assert at_end["stop"] is True, at_end  # not after the stream has closed
    assert re.match(r"job done done · \d+\.\ds How fast", at_end["job"]), at_end
    assert at_end["message"] == ""


async def test_a_job_reopened_from_recent_jobs_shows_its_agents_status_and_time(
    page: Any, server: ServeProcess
) -> None:
    await page.goto(server.url + "/")
    job_id = await _ask(page, "Which queue suits a small team?", 3)
    await expect(page.locator("#footer")).to_contain_text("3/3 agents", timeout=20_000)
    took = re.search(r"done · (\d+\.\d)s", await page.locator("#phase").text_content())[1]
    assert float(took) > 0.5  # three agents at 0.3 s a call, then a streamed synthesis
    await page.goto(server.url + "/")  # a new visit: nothing of the run is left in the page
    listed = page.locator(f"#jobs li[data-id='{job_id}']")
    await expect(listed).to_contain_text(f"done · {took}s")
    await listed.locator("a").click()
    await expect(page.locator("#phase")).to_have_text(f"job {job_id} · done · {took}s")
    await expect(page.locator(f"{ROWS}.ok")).to_have_count(3)
    await expect(page.locator(f"{ROWS} .question").first).to_contain_text(
        "Which queue suits a small team?")
    times = await page.locator(f"{ROWS} .time").all_text_contents()
    assert all(re.fullmatch(r"\d+\.\ds", t) and t != "0.0s" for t in times), times
    await expect(page.locator("#answer h2")).to_contain_text("Which queue suits")
    await expect(page.locator("#footer")).to_contain_text(f"3/3 agents · {took}s")
    await expect(page.locator("#stop-button")).to_be_disabled()


async def test_the_synthesis_streams_rendered_in_the_answers_place(
    page: Any, server: ServeProcess
) -> None:
    await page.goto(server.url + "/")
    await page.evaluate(WATCH_THE_STREAM)
    await _ask(page, "Stream the synthesis of six agents, please", 6)
    await expect(page.locator("#footer")).to_contain_text("6/6 agents", timeout=30_000)
    streaming = await page.evaluate("window.streaming")
    assert streaming is not None, "the synthesis never showed rendered while it streamed"
    assert "synthesising" in streaming["phase"]
    assert "monospace" not in streaming["font"] and streaming["pre"] == 0
    assert "##" not in streaming["text"] and "**" not in streaming["text"]  # no raw Markdown
    answer = page.locator("#answer")
    await expect(answer).not_to_have_class(re.compile("streaming"))
    # The final answer replaces the streamed one in place: nothing jumps.
    top = await answer.evaluate("a => a.getBoundingClientRect().top + window.scrollY")
    assert top == streaming["top"]
    words = len((await answer.text_content()).split())
    renders = await page.evaluate("window.renders")
    # Rendered again as it streams, but throttled: not once for each of the words streamed.
    assert 2 <= renders <= words / 3, (renders, words)


async def test_at_390_px_a_wide_answer_scrolls_inside_itself(phone: Any, server: ServeProcess
                                                             ) -> None:
    """Answers hold what the simulated model never writes: wide tables, long code lines, URLs."""
    wide = ("| " + " | ".join(f"column {i}" for i in range(12)) + " |\n|" + "---|" * 12 + "\n| "
            + " | ".join("a-rather-long-cell-value" for _ in range(12)) + " |\n\n```\n"
            + "x = 1  # " + "a long line of code " * 20 + "\n```\n\nSee https://example.org/"
            + "a" * 200 + " and " + "w" * 120 + ".")
    await phone.goto(server.url + "/")
    await phone.evaluate("""(md) => {
        document.getElementById("run").hidden = false;
        const answer = document.getElementById("answer");
        answer.hidden = false;
        answer.innerHTML = window.heavyMarkdown.render(md);
    }""", wide)
    await expect(phone.locator("#answer table")).to_be_visible()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
