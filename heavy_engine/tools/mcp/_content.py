"""An MCP tool result, turned into what the agent loop shows the model.

Pure function. Text and resource links become text; a link to an http(s) page is a source the
answer may cite (like a search result), an embedded http(s) resource is a page read (like
`fetch_url`'s). Images become `image_url` parts (the agent shows them only to vision models)
and a line in the text; audio and binary resources are named, not passed on.
"""

from __future__ import annotations

import json

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

from ...core import Source
from .._base import ToolOutput

MAX_IMAGES = 4
MAX_IMAGE_CHARS = 4_000_000  # base64 characters of one image (about 3 MB)


def to_output(result: CallToolResult) -> ToolOutput:
    """The model's view of `result` (for an error result, only its text matters)."""
    parts: list[str] = []
    images: list[dict[str, object]] = []
    fetched: list[Source] = []
    found: list[Source] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ResourceLink):
            title = block.title or block.name
            parts.append(f"[link] {title}: {block.uri}")
            if _is_page(block.uri):
                found.append(Source(block.uri, title))
        elif isinstance(block, EmbeddedResource):
            res = block.resource
            if isinstance(res, TextResourceContents):
                parts.append(f"[resource {res.uri}]\n{res.text}")
                if _is_page(res.uri):
                    fetched.append(Source(res.uri))
            elif isinstance(res, BlobResourceContents):
                parts.append(f"[resource {res.uri}: {res.mime_type or 'binary'}, "
                             f"{_decoded_size(res.blob):,} bytes, not shown]")
        elif isinstance(block, ImageContent):
            size = f"{_decoded_size(block.data):,} bytes"
            if len(images) >= MAX_IMAGES or len(block.data) > MAX_IMAGE_CHARS:
                parts.append(f"[image: {block.mime_type}, {size}, too large or too many: not shown]")
                continue
            images.append({"type": "image_url",
                           "image_url": {"url": f"data:{block.mime_type};base64,{block.data}"}})
            parts.append(f"[image {len(images)}: {block.mime_type}, {size}]")
        elif isinstance(block, AudioContent):
            parts.append(f"[audio: {block.mime_type}, not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(parts) or "(the tool returned nothing)"
    return ToolOutput(text, tuple(images), tuple(fetched), tuple(found))


def _is_page(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _decoded_size(b64: str) -> int:
    return len(b64) * 3 // 4 - b64[-2:].count("=")
