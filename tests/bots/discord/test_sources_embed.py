"""Sources under a Discord answer: an embed field, not a list in the text (issue 15 item 2)."""

from __future__ import annotations

from typing import Any

import pytest

from bots.discord._render import FIELD_VALUE_LIMIT, sources_embed
from bots.discord._surface import DiscordSurface
from heavy_engine import RunResult
from heavy_engine.core._sources import Source, sources_section


def _result_with_sources(count: int) -> RunResult:
    sources = [Source(f"https://example.com/page/{i}", f"Page {i} " + "x" * 60)
               for i in range(count)]
    body = "SQLite is enough for 50 users [1]."
    return RunResult(request_id="r", question="q", answer=f"{body}\n\n{sources_section(sources)}",
                     sources=sources, models=["fake/model"])


def test_sources_go_in_an_embed_field_not_in_the_answer_text() -> None:
    surface = DiscordSurface.__new__(DiscordSurface)
    surface._sources = {}
    job: Any = type("J", (), {"id": "job1", "reply": {}, "spec": None})()
    [part] = surface.answer_parts(job, _result_with_sources(3)) or []
    assert part.text is not None and "example.com" not in part.text
    assert part.text.startswith("SQLite is enough for 50 users [1].")
    field = surface._sources["job1"].to_dict()["fields"][0]
    assert field["name"] == "Sources"
    assert field["value"].splitlines()[0].startswith("1. [Page 0 ")
    assert "(https://example.com/page/2)" in field["value"]


@pytest.mark.parametrize(("count", "shown"), [
    (0, None),  # no sources: no embed at all
    (3, 3),  # all fit
    (10, None),  # many long titles: cut whole lines, never past 1,024 characters
])
def test_the_sources_field_fits_discord_limits(count: int, shown: int | None) -> None:
    links = [(f"Page {i} " + "x" * 90, f"https://example.com/{'p' * 40}/{i}")
             for i in range(count)]
    embed = sources_embed(links)
    if count == 0:
        assert embed is None
        return
    assert embed is not None
    value = embed.to_dict()["fields"][0]["value"]
    assert len(value) <= FIELD_VALUE_LIMIT
    if shown is not None:
        assert len(value.splitlines()) == shown
    else:
        assert value.splitlines()[-1].startswith("… and ")
