"""Which proxy a provider's base URL should use, decided once from the environment.

Resolved once per provider rather than per request (aiohttp's `trust_env` does a thread hop and
a `.netrc` lookup on every request, and `.netrc` credentials could replace our bearer token).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from yarl import URL


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bypassed(host: str, no_proxy: str) -> bool:
    """True when NO_PROXY (`*`, `example.com`, `.example.com`, `10.0.0.1`) covers `host`."""
    host = host.lower().strip("[]")
    for entry in no_proxy.lower().split(","):
        entry = entry.strip()
        if entry == "*":
            return True
        if entry.startswith("["):  # [::1]:8080
            entry = entry[1:].split("]", 1)[0]
        elif entry.count(":") == 1:  # host:port; more colons means a bare IPv6 address
            entry = entry.split(":", 1)[0]
        entry = entry.lstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str]) -> URL | None:
    """The proxy for `url` per HTTP(S)_PROXY / ALL_PROXY / NO_PROXY (lower case wins, like curl).

    Loopback servers (Ollama, llama.cpp, the fake) never go through a proxy: it cannot reach them.
    """
    parsed = URL(url)
    host = parsed.host or ""
    if is_loopback(host):
        return None

    def get(name: str) -> str:
        return env.get(name.lower()) or env.get(name.upper()) or ""

    chosen = get(f"{parsed.scheme}_proxy") or get("all_proxy")
    if not chosen:
        return None
    if bypassed(host, get("no_proxy")):
        return None
    return URL(chosen if "://" in chosen else f"http://{chosen}")
