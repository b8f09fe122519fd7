"""web_search benchmark: what one search costs the event loop, and a fallback's price.

A local SearXNG-shaped JSON server (another thread, its own loop) answers at once; a second one
answers 429. This prints: the event-loop time spent building the HTTP client per call (httpx's
default, which loads the CA bundle each time, against the shared TLS context `web_search` now
uses), search round trips (p50/p95) through `web_search` with one back-end and with a 429
first (fallback), and the worst event-loop lag while 50 searches run at once.

    python bench/search.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import threading
import time

import httpx
from aiohttp import web

from heavy_engine import SearchConfig, ToolSettings
from heavy_engine.plugins import registry
from heavy_engine.tools import ToolContext, WebSearch, execute_tool

RESULTS = {"query": "q", "results": [
    {"url": f"https://example.org/{i}", "title": f"Result {i}", "content": "snippet " * 20}
    for i in range(10)], "unresponsive_engines": []}


def serve() -> tuple[str, str]:
    """(ok base_url, throttled base_url), served from a thread."""
    urls: list[str] = []
    ready = threading.Event()

    async def ok(_: web.Request) -> web.Response:
        return web.json_response(RESULTS)

    async def throttled(_: web.Request) -> web.Response:
        return web.json_response({"error": "slow down"}, status=429)

    async def start() -> None:
        for handler in (ok, throttled):
            app = web.Application()
            app.router.add_get("/search", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(60)
    return urls[0], urls[1]


async def client_cost(n: int = 10) -> tuple[float, float]:
    from heavy_engine.tools.search import new_client, tls_context

    tls = await tls_context()
    default, shared = [], []
    for _ in range(n):
        t = time.perf_counter()
        await httpx.AsyncClient().aclose()
        default.append(time.perf_counter() - t)
        t = time.perf_counter()
        await new_client(10, tls).aclose()
        shared.append(time.perf_counter() - t)
    return statistics.median(default) * 1000, statistics.median(shared) * 1000


async def one(search: SearchConfig) -> float:
    ctx = ToolContext("bench", None, ToolSettings(), search=search)
    t = time.perf_counter()
    res = await execute_tool(WebSearch(), "web_search", '{"query": "tides"}', ctx, 30)
    assert res.ok and "Result 0" in res.text, res.text
    return time.perf_counter() - t


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] * 1000


async def lag_during(search: SearchConfig, concurrent: int) -> float:
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - t - 0.005)

    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(one(search) for _ in range(concurrent)))
    stop.set()
    await tick
    return worst * 1000


async def main(calls: int) -> None:
    logging.getLogger("heavy.tools.search").setLevel(logging.ERROR)  # one warning per fallback
    ok_url, throttled_url = serve()
    direct = SearchConfig(backend="searxng", base_url=ok_url)
    default_ms, shared_ms = await client_cost()
    print(f"client per call, event-loop time: httpx default {default_ms:.1f} ms, "
          f"shared TLS context {shared_ms:.2f} ms")
    await one(direct)  # warm-up
    times = [await one(direct) for _ in range(calls)]
    print(f"web_search round trip, 1 back-end: p50 {pct(times, 0.5):.2f} ms, "
          f"p95 {pct(times, 0.95):.2f} ms ({calls} calls)")
    # A second SearXNG under another name (a plugin double), after one that answers 429.
    with registry().registered("search", "searxng_b", registry().load("search", "searxng")):
        fallback = SearchConfig.model_validate({
            "backend": "searxng", "base_url": throttled_url,
            "fallback": [{"backend": "searxng_b", "base_url": ok_url}]})
        times = [await one(fallback) for _ in range(calls)]
    print(f"web_search round trip, 429 then fallback: p50 {pct(times, 0.5):.2f} ms, "
          f"p95 {pct(times, 0.95):.2f} ms")
    print(f"worst event-loop lag, 50 searches at once: {await lag_during(direct, 50):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
