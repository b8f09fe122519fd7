"""The web page at `/`: static files shipped in the package (`heavy_engine/web/`), no build step.

The page holds no data of its own: it talks to the HTTP API with the API's rules (loopback
without `HEAVY_API_TOKEN`, else a bearer token the person types once).
"""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}
# The page loads only its own files and talks only to this server.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def page_routes() -> list[web.RouteDef]:
    return [web.get("/", _index), web.get("/static/{name}", _static),
            web.get("/favicon.ico", _favicon)]


@functools.lru_cache(maxsize=32)  # bounded: junk names must not grow it
def _read(name: str) -> bytes | None:
    """A shipped file's bytes, read once (a few kB each: the event loop never waits on disk)."""
    path = WEB_DIR / name
    # Only the few shipped files: a name is one path segment with a known type.
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        return None
    return path.read_bytes()


def _file(name: str) -> web.Response:
    body = _read(name)
    if body is None:
        raise web.HTTPNotFound(text="No such file.")
    return web.Response(body=body, charset="utf-8", content_type=_TYPES[Path(name).suffix],
                        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache",
                                 "X-Content-Type-Options": "nosniff"})


async def _index(request: web.Request) -> web.Response:
    return _file("index.html")


async def _favicon(request: web.Request) -> web.Response:
    """Browsers ask for `/favicon.ico` whatever the page says: the SVG icon (modern browsers
    take an icon by its type, not its name), so no 404 shows in the log or the console."""
    return _file("favicon.svg")


async def _static(request: web.Request) -> web.Response:
    return _file(request.match_info["name"])
