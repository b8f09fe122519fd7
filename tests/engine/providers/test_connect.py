"""`DirectConnector`: one plain address is connected by the event loop itself, anything else
the way aiohttp does it; and what it relies on in aiohttp is still there."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp.connector
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from heavy_engine.providers._connect import DirectConnector


def test_aiohttp_still_connects_through_the_method_it_overrides() -> None:
    method = aiohttp.TCPConnector._wrap_create_connection
    params = inspect.signature(method).parameters
    assert {"addr_infos", "req", "timeout", "client_error"} <= set(params)
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY
               for name in ("addr_infos", "req", "timeout"))
    # ... and calls it with those names, from where every direct connection is made
    source = inspect.getsource(aiohttp.TCPConnector._create_direct_connection)
    assert "self._wrap_create_connection(" in source and "addr_infos=" in source


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.fixture
def happy_eyeballs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The address lists aiohttp's own way was asked to connect to."""
    calls: list[Any] = []
    real = aiohttp.connector.aiohappyeyeballs.start_connection

    async def spy(addr_infos: Any, **kwargs: Any) -> socket.socket:
        calls.append(addr_infos)
        return await real(addr_infos, **kwargs)

    monkeypatch.setattr(aiohttp.connector.aiohappyeyeballs, "start_connection", spy)
    return calls


async def _get(connector: aiohttp.TCPConnector, url: str, **timeout: float) -> str:
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(**timeout)) as session:
        async with session.get(url) as resp:
            return await resp.text()


async def test_one_address_is_connected_directly(server: int, happy_eyeballs: list[Any]) -> None:
    assert await _get(DirectConnector(), f"http://127.0.0.1:{server}/") == "hello"
    assert happy_eyeballs == []


class _TwoLoopbacks(AbstractResolver):
    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=ip, port=port, family=socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)
                for ip in ("127.0.0.2", "127.0.0.1")]

    async def close(self) -> None:
        pass


async def test_several_addresses_race_the_way_aiohttp_does(
        server: int, happy_eyeballs: list[Any]) -> None:
    # 127.0.0.2 has no listener on this port: aiohttp's way moves on to the next address
    text = await _get(DirectConnector(resolver=_TwoLoopbacks()), f"http://llm.test:{server}/")
    assert text == "hello" and len(happy_eyeballs) == 1 and len(happy_eyeballs[0]) == 2


async def test_a_refused_connection_is_aiohttps_connector_error(unused_tcp_port: int) -> None:
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _get(DirectConnector(), f"http://127.0.0.1:{unused_tcp_port}/")
    assert caught.value.port == unused_tcp_port and isinstance(caught.value.os_error,
                                                            ConnectionRefusedError)


async def test_a_slow_connect_is_aiohttps_connect_timeout(
        server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    real = loop.create_connection

    async def stalled(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(5)
        return await real(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", stalled)
    with pytest.raises(aiohttp.ConnectionTimeoutError):
        await _get(DirectConnector(), f"http://127.0.0.1:{server}/", sock_connect=0.1)
