"""Log injection: a newline in a user-supplied value (here Slack's OAuth `error=` parameter,
which anyone can type into the redirect URL) cannot forge a log line in the text log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bots.slack.native._oauth import REDIRECT_PATH
from heavy_engine.observability import configure_logging

from .conftest import Slack
from .native.test_workspaces import multi

__all__ = ["multi"]  # the OAuth-enabled app, a fixture

FORGED = "x%0A2026-01-01 00:00:00,000 ERROR heavy.serve: database wiped by admin%0D%1B[2J"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("text", logging.INFO, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


async def test_a_newline_in_oauth_error_stays_on_its_line(multi: Slack,
                                                         text_log: io.StringIO) -> None:
    resp = await multi.http.get(f"{REDIRECT_PATH}?error={FORGED}")
    assert "Installation refused" in await resp.text()
    lines = text_log.getvalue().splitlines()
    refused = [line for line in lines if "install refused" in line]
    assert len(refused) == 1
    assert "x\\n2026-01-01 00:00:00,000 ERROR heavy.serve: database wiped" in refused[0]
    assert "\\r\\x1b[2J" in refused[0]
    assert not any(line.startswith("2026-01-01") for line in lines)  # no forged line
    assert "\x1b" not in text_log.getvalue() and "\r" not in text_log.getvalue()
