"""`to_output`: an MCP tool result as the model sees it (text, images, sources)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from heavy_engine import Source
from heavy_engine.tools.mcp import to_output, tool_name

PNG = "iVBORw0KGgo="


@pytest.mark.parametrize(("content", "text", "found", "fetched"), [
    # text blocks are joined by lines
    ([TextContent(text="a"), TextContent(text="b")], "a\nb", [], []),
    # a link to a web page: named in the text, a source once the answer cites it
    ([ResourceLink(name="doc", title="Design doc", uri="https://x.example/d")],
     "[link] Design doc: https://x.example/d", [Source("https://x.example/d", "Design doc")], []),
    # a link to something that is not a web page is text only
    ([ResourceLink(name="row", uri="tickets://42")], "[link] row: tickets://42", [], []),
    # an embedded page was read: a source like fetch_url's
    ([EmbeddedResource(resource=TextResourceContents(uri="https://x.example/p", text="body"))],
     "[resource https://x.example/p]\nbody", [], [Source("https://x.example/p")]),
    # binary content is named, not passed on
    ([EmbeddedResource(resource=BlobResourceContents(uri="file:///a.bin", blob="AAAA",
                                                     mime_type="application/zip"))],
     "[resource file:///a.bin: application/zip, 3 bytes, not shown]", [], []),
    ([AudioContent(data="AAAA", mime_type="audio/wav")], "[audio: audio/wav, not shown]", [], []),
    # nothing at all
    ([], "(the tool returned nothing)", [], []),
])
def test_blocks(content: list[Any], text: str, found: list[Source], fetched: list[Source]) -> None:
    out = to_output(CallToolResult(content=content))
    assert (out.text, list(out.found), list(out.fetched), out.images) == (text, found, fetched, ())


def test_structured_content_when_there_is_no_text() -> None:
    out = to_output(CallToolResult(content=[], structured_content={"time": "21:00"}))
    assert out.text == '{"time": "21:00"}'


def test_images_become_parts_and_a_line_and_are_capped() -> None:
    images = [ImageContent(data=PNG, mime_type="image/png") for _ in range(5)]
    out = to_output(CallToolResult(content=[TextContent(text="pictures:"), *images]))
    assert len(out.images) == 4
    assert out.images[0] == {"type": "image_url",
                             "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert out.text.splitlines() == [
        "pictures:", "[image 1: image/png, 8 bytes]", "[image 2: image/png, 8 bytes]",
        "[image 3: image/png, 8 bytes]", "[image 4: image/png, 8 bytes]",
        "[image: image/png, 8 bytes, too large or too many: not shown]"]


@pytest.mark.parametrize(("server", "remote", "expected"), [
    ("time", "get_current_time", "mcp__time__get_current_time"),  # kept as it is
    ("docs", "search.pages", "mcp__docs__search_pages_"),  # a dot is not allowed: hashed
    ("docs", "x" * 80, "mcp__docs__" + "x" * 44 + "_"),  # too long: cut and hashed
])
def test_tool_names_are_valid_openai_names(server: str, remote: str, expected: str) -> None:
    name = tool_name(server, remote)
    assert name.startswith(expected) and len(name) <= 64
    assert name == expected or len(name) == len(expected) + 8
