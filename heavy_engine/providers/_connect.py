"""aiohttp's TCP connector, opening a plain-HTTP connection to a single address with the event
loop's own `create_connection`.

aiohttp opens every connection through aiohappyeyeballs: a Python socket, `sock_connect`, then
`create_connection(sock=...)` around it. With one address there is nothing to race, and uvloop
connects to an IP in C: 29 us of CPU per connection against 71-91 us (both sides of a local
connection, 3,000 at once). A burst opens one connection per call in flight (4,000 for 1,000
questions), which made connecting ~12% of a replica's CPU. Several addresses (happy eyeballs),
TLS (aiohttp maps its certificate errors) and a scoped IPv6 address go aiohttp's way.

`_wrap_create_connection` is aiohttp's; tests/engine/providers/test_connect.py fails if an
upgrade changes what this relies on.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp


class DirectConnector(aiohttp.TCPConnector):
    """Built as aiohttp's, without `local_addr` or `socket_factory` (the direct path ignores
    them)."""

    async def _wrap_create_connection(self, *args: Any, addr_infos: list[Any], req: Any,
                                      timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's)
                                      client_error: type[Exception] = aiohttp.ClientConnectorError,
                                      **kwargs: Any) -> Any:
        if (len(args) != 1 or len(addr_infos) != 1 or kwargs.get("ssl")
                or not _plain(addr_infos[0])):
            return await super()._wrap_create_connection(
                *args, addr_infos=addr_infos, req=req, timeout=timeout,
                client_error=client_error, **kwargs)
        family, _, _, _, address = addr_infos[0]
        try:
            async with asyncio.timeout(timeout.sock_connect):
                return await asyncio.get_running_loop().create_connection(
                    args[0], address[0], address[1], family=family, **kwargs)
        except OSError as err:
            if err.errno is None and isinstance(err, TimeoutError):
                raise  # the connect timeout: aiohttp reports it as such
            raise client_error(req.connection_key, err) from err


def _plain(addr_info: Any) -> bool:
    """An IPv4 address, or an IPv6 one without a scope (a link-local one keeps aiohttp's way)."""
    family, address = addr_info[0], addr_info[4]
    return family == socket.AF_INET or (family == socket.AF_INET6 and not address[3])
