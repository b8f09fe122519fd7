"""A real browser for the web page: Debian's Chromium driven by Playwright (never a browser
that Playwright downloads), and `heavy serve` as a child process on the simulated model.

Without Chromium the tests skip with one line; `.ci/run` installs it and sets
HEAVY_REQUIRE_CHROMIUM=1, which turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

CHROMIUM = Path(os.environ.get("HEAVY_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the whole session, on the session's event loop (the async API: the
    sync one would leave its own loop running under every later test)."""
    why = _missing()
    if why is not None:
        if os.environ.get("HEAVY_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"HEAVY_REQUIRE_CHROMIUM=1 but {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                            headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


class ServeProcess:
    """`heavy serve` on a free loopback port; its log lines kept for failure messages."""

    def __init__(self, folder: Path, **env: str) -> None:
        (folder / "config.yaml").write_text("tools: [calculate]\ntimeouts: {request: 60}\n")
        self.env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
                    "HEAVY_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'heavy.db'}",
                    "HEAVY_SIMULATED_PACE": "0.3", **env}  # paced: rows can be seen working
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heavy_engine.cli", "serve", "--host", "127.0.0.1",
             "--port", "0"], cwd=folder, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(60) or not self.url:  # start-up: generous on a loaded machine
            self.stop()
            raise AssertionError("heavy serve did not start:\n" + "\n".join(self.lines))

    def _read(self, ready: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if "heavy serving on http://" in line:
                self.url = line.split("heavy serving on ", 1)[1].split(" ", 1)[0]
                ready.set()
        ready.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(
    tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> AsyncIterator[ServeProcess]:
    proc = await asyncio.to_thread(ServeProcess, tmp_path_factory.mktemp("serve"))
    yield proc
    await asyncio.to_thread(proc.stop)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()
