"""A small MCP server written with the SDK's server side, run as its own process by the tests.

`python server.py stdio` speaks MCP over stdin/stdout; `python server.py http PORT` over
streamable HTTP at `/mcp` (it refuses requests without `Authorization: Bearer $DOCS_TOKEN`
when that variable is set); `exit` quits at once with an error on stderr; `hang` never answers.
"""

from __future__ import annotations

import sys
import time

# Before the SDK's import: these two must fail (or hang) at once, as a broken server does.
if sys.argv[1:2] == ["exit"]:
    print("tickets-mcp: cannot reach the ticket database", file=sys.stderr)
    sys.exit(3)
if sys.argv[1:2] == ["hang"]:
    time.sleep(3600)  # reads nothing, answers nothing

import asyncio
import base64
import hashlib
import os
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ImageContent, ResourceLink, TextContent
from pydantic import BaseModel, Field

# A 1x1 transparent PNG.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)).decode()

app = MCPServer("heavy-test")


class Window(BaseModel):
    start: str = Field(description="ISO date")
    end: str | None = None


@app.tool()
def echo(text: str) -> str:
    """Say the text back, prefixed with 'echo: '."""
    return f"echo: {text}"


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def search_tickets(query: str, window: Window, status: Literal["open", "closed"] | None = None,
                   limit: int = 10) -> str:
    """Search tickets (a nested schema with $defs, anyOf and an enum)."""
    return f"tickets for {query!r} from {window.start} ({status or 'any'}, {limit})"


@app.tool()
def link(url: str) -> list[TextContent | ResourceLink]:
    """A text line and a link to the page it found."""
    return [TextContent(text="found one page"),
            ResourceLink(name="design doc", uri=url, title="Design doc")]


@app.tool()
def picture() -> list[TextContent | ImageContent]:
    """A tiny picture."""
    return [TextContent(text="a picture:"), ImageContent(data=PNG, mime_type="image/png")]


@app.tool()
def big(megabytes: float) -> str:
    """A result of that many megabytes of text."""
    return "x" * int(megabytes * 1_000_000)


@app.tool()
async def slow(seconds: float) -> str:
    """Answer after that many seconds."""
    await asyncio.sleep(seconds)
    return "slept"


@app.tool()
def fail() -> str:
    """Always fails (an error result, not a protocol error)."""
    raise ToolError("the ticket system said no")


@app.tool()
def crash() -> str:
    """Kill the server process mid-call."""
    os._exit(7)


@app.tool()
def token_digest() -> str:
    """A digest of SERVER_TOKEN: proves the variable arrived without showing it."""
    token = os.environ.get("SERVER_TOKEN", "")
    return f"pid {os.getpid()} token sha256 {hashlib.sha256(token.encode()).hexdigest()[:12]}"


def main() -> None:
    mode = sys.argv[1]
    if mode == "stdio":
        app.run()
    elif mode == "http":
        run_http(int(sys.argv[2]))


def run_http(port: int) -> None:
    import uvicorn
    from starlette.types import ASGIApp, Receive, Scope, Send

    inner = app.streamable_http_app(host="127.0.0.1")
    token = os.environ.get("DOCS_TOKEN")

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and token:
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await inner(scope, receive, send)

    asgi: ASGIApp = guarded
    # The app's lifespan starts the session manager; uvicorn runs it for the wrapper too.
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
