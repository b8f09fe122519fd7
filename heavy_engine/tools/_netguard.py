"""Which network addresses a tool may reach: the SSRF policy shared by the HTTP tools.

Invariant: a host is allowed only if EVERY address it resolves to is public (or allowed by the
operator), and the caller then connects to one of exactly those checked addresses, so a DNS
answer that changes between the check and the connection cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ._base import ToolFailed, ToolRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text. Injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Cloud instance-metadata endpoints: named separately because they are the classic SSRF prize.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
    "169.254.170.2",  # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS IPv6 metadata
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: IPv4 in the last 32 bits
# Local-use NAT64 (RFC 8215) translates for one network only, and a /48 prefix spreads the IPv4
# address around bits 64-71: the last 32 bits may carry a public decoy. Never reachable.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: internal, not private


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (a thread, so the loop keeps running)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise ToolFailed(f"cannot resolve {host}: {err}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_ip(text: str) -> IPAddress | None:
    """An address from text (IPv6 scope ids dropped), or None when it is not an IP literal."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def forbidden_reason(addr: IPAddress) -> str | None:
    """Why `addr` must not be reached ("a loopback address"...), or None when it is public."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _LOCAL_NAT64:
            return "a local-use NAT64 address"
        inner = _embedded_v4(addr)
        if inner is not None:
            reason = forbidden_reason(inner)
            return f"{reason} (it carries IPv4 {inner})" if reason else None
    checks = (
        (addr in _METADATA, "a cloud metadata address"),
        (addr.is_unspecified, "an unspecified address"),
        (addr.is_loopback, "a loopback address"),
        (addr.is_link_local, "a link-local address"),
        (addr.is_multicast, "a multicast address"),
        (addr in _SHARED, "a shared (carrier-grade NAT) address"),
        (addr.is_private, "a private address"),
        (addr.is_reserved, "a reserved address"),
        (not addr.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


@dataclass(frozen=True, slots=True)
class AllowList:
    """Operator exceptions: IPs and CIDRs by address, host names exactly or as `*.suffix`."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif entry:
                hosts.add(entry)
        return cls(tuple(networks), frozenset(hosts), tuple(suffixes))

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(s) for s in self.suffixes)

    def allows_address(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self.networks)


async def checked_addresses(
    host: str, port: int, allow: AllowList, resolver: Resolver
) -> list[str]:
    """The addresses to connect to for `host`; `ToolRefused` if any of them is forbidden."""
    literal = parse_ip(host)
    addresses = [str(literal)] if literal is not None else list(await resolver(host, port))
    if not addresses:
        raise ToolFailed(f"cannot resolve {host}: no addresses")
    if literal is None and allow.allows_host(host):
        return addresses
    for text in addresses:
        addr = parse_ip(text)
        if addr is None:
            raise ToolRefused(f"{host} resolved to {text!r}, which is not an IP address")
        reason = forbidden_reason(addr)
        if reason is None or allow.allows_address(addr):
            continue
        if literal is not None:
            raise ToolRefused(f"{addr} is {reason}")
        raise ToolRefused(f"{host} resolves to {addr}, which is {reason}")
    return addresses
