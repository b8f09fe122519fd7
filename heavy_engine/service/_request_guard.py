"""Refuse what another web site, or a DNS name rebound to this machine, asks on a user's behalf.

With no `HEAVY_API_TOKEN` the API trusts loopback clients, and a browser on this machine is one:
any page it shows could post to `http://127.0.0.1:3000/api/ask`, or rebind its own name to
127.0.0.1 and read the answers. Three rules, for every route (also routes added later):

1. `Host` must be one of this server's names (421 otherwise): a loopback name, the IP address
   the request arrived on (a Kubernetes probe, a LAN client), the host of `HEAVY_PUBLIC_URL`, or
   a name in `HEAVY_ALLOWED_HOSTS`. A rebound name is none of these, so nothing is read through
   it. The port is not compared for loopback names and the local address: a browser sends the
   port of the URL it was given, which a Docker or SSH port mapping changes (`localhost:3001`
   reaching a replica on 3000), and rebinding needs a name the attacker controls, never these.
2. A state-changing request (POST, PUT, PATCH, DELETE) is refused (403) when its `Origin` is not
   this server, or `Sec-Fetch-Site` says `cross-site`.
3. Its body must be `application/json` (415): an HTML form or a `no-cors` fetch cannot send that
   content type cross-origin without CORS, which this server never grants.

Signed webhooks (`signed_webhook`, e.g. Slack's `/slack/events`) skip all three: Slack's servers
post form-encoded slash commands from no browser, to whatever public name the app was given, and
each request proves itself with its signature, not with where it came from. Whatever route
family, every response says `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..core import ConfigError

log = logging.getLogger("heavy.http")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WEBHOOK = "signed-webhook:"  # route-name prefix of routes authenticated by a signature
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def signed_webhook(method: str, path: str, handler: Callable[[web.Request], Awaitable[Any]],
                   name: str) -> web.RouteDef:
    """A route whose every request is checked by its platform's signature (see module doc)."""
    return web.route(method, path, handler, name=_WEBHOOK + name)


def _split_host(value: str) -> tuple[str, int | None] | None:
    """`Host`-style "name[:port]" or "[v6]:port" -> (lower-case name, port); None if malformed."""
    try:
        parts = urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    if not name or parts.username is not None or parts.path or parts.query:
        return None
    return name, port


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """The names besides loopback and the local address; a name without a port allows any."""

    names: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AllowedHosts:
        """From `HEAVY_PUBLIC_URL` (its host) and `HEAVY_ALLOWED_HOSTS` (comma-separated)."""
        names: set[tuple[str, int | None]] = set()
        public = env.get("HEAVY_PUBLIC_URL", "").strip()
        if public:
            parts = urlsplit(public)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"HEAVY_PUBLIC_URL must be an http(s) URL (got {public!r})")
            names.add((parts.hostname.lower(), None))
        for item in env.get("HEAVY_ALLOWED_HOSTS", "").split(","):
            if not item.strip():
                continue
            found = _split_host(item)
            if found is None:
                raise ConfigError("HEAVY_ALLOWED_HOSTS must be comma-separated host names, "
                                  f"each optionally with :port (got {item.strip()!r})")
            names.add(found)
        return cls(frozenset(names))

    def allows(self, host: str, local: tuple[str, int] | None) -> bool:
        """Whether `host` (a `Host` header value) names this server; `local` is the
        (address, port) the connection arrived on (None: only configured names count)."""
        found = _split_host(host)
        if found is None:
            return False
        if self.configured(host):
            return True
        name = found[0]
        if name in _LOOPBACK_NAMES or _is_loopback(name):
            return True
        return local is not None and _same_address(name, local[0])


    def configured(self, host: str) -> bool:
        """Whether `host` is a name the operator configured (not merely a local one)."""
        found = _split_host(host)
        return found is not None and ((found[0], None) in self.names or found in self.names)


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_address(name: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(name) == ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:  # a name, not an address literal
        return False


def _local(request: web.Request) -> tuple[str, int] | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return str(sockname[0]), int(sockname[1])
    return None


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _cross_site(request: web.Request, hosts: AllowedHosts) -> str | None:
    """Why a state-changing request is refused as cross-site, or None."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return "Cross-site requests may not change anything here (Sec-Fetch-Site: cross-site)."
    origin = request.headers.get("Origin")
    if origin is None:
        return None  # not sent by a browser (curl, SDKs), or an old one: the Host rule held
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"Requests from origin {origin[:80]!r} may not change anything here."
    # This very origin (scheme aside: TLS may end at a proxy), or a configured public name; a
    # page from another local port is another application's, so loopback is not enough here.
    if parts.netloc.lower() == request.host.lower() or hosts.configured(parts.netloc):
        return None
    return f"Requests from another site ({origin[:80]}) may not change anything here."


def _not_json(request: web.Request) -> bool:
    if request.method == "DELETE" and not request.body_exists:
        return False  # a body-less DELETE carries nothing to mistype
    return request.content_type != "application/json"


def request_guard(hosts: AllowedHosts) -> Middleware:
    """The middleware; install it outside every handler (see `build_app`)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.match_info.route.name or ""
        if name.startswith(_WEBHOOK):
            return await handler(request)
        host = request.headers.get("Host", "")
        if not hosts.allows(host, _local(request)):
            log.info("refused %s %s for Host %r (not one of this server's names)",
                     request.method, request.path, host[:80])
            return _refuse(421, f"Host {host[:80]!r} is not one of this server's names; an "
                                "operator can add it to HEAVY_ALLOWED_HOSTS.")
        if request.method in STATE_CHANGING:
            reason = _cross_site(request, hosts)
            if reason is not None:
                log.info("refused %s %s: %s", request.method, request.path, reason)
                return _refuse(403, reason)
            if _not_json(request):
                return _refuse(415, f"{request.method} bodies must be application/json "
                                    f"(got {request.content_type or 'none'}).")
        return await handler(request)

    return middleware


async def add_nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: on every response, also errors and streams."""
    response.headers["X-Content-Type-Options"] = "nosniff"
