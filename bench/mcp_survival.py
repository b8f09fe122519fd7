"""MCP survival figures: a server that exits at once, one that hangs at start, a call that hangs,
and a 5 MB result; for each, the time until the run can go on (the server given up, or the
answer in), the worst event-loop lag while it happened (an idle wait of the same length is the
machine's own baseline), and memory: Python allocations at the peak and still held after
(tracemalloc, in a second pass so that it slows no timing) and the RSS growth. Then the tools
`heavy tools` lists for the third-party `mcp-server-time`.

Each case runs `--repeat` times in one process after a warm-up (the SDK imported, one server
started and stopped), so imports are not counted as growth. The servers are the tests' own
(`tests/engine/tools/mcp/server.py`, written with the SDK) over stdio. Stopping a server (for
a hung one: close stdin, 2 s, SIGTERM) happens after the run went on and is shown apart.

    python bench/mcp_survival.py [--repeat 3] [--start-timeout 5] [--call-timeout 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = ROOT / "tests" / "engine" / "tools" / "mcp" / "server.py"
TICK_S = 0.005


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Samples event-loop lag (how late a 5 ms sleep wakes) and RSS while a case runs."""

    def __init__(self) -> None:
        self.lag = 0.0
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK_S)
            self.lag = max(self.lag, loop.time() - before - TICK_S)
            self.peak = max(self.peak, rss_mb())

    async def __aenter__(self) -> Watch:
        self.peak = rss_mb()
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def entry(mode: str, **fields: Any) -> dict[str, Any]:
    return {"command": [sys.executable, str(SERVER), mode], **fields}


Case = Callable[[], Awaitable[tuple[str, float, float]]]  # -> (outcome, give-up s, close s)


async def measure(case: Case) -> dict[str, Any]:
    gc.collect()
    before = rss_mb()
    async with Watch() as watch:
        outcome, elapsed, closing = await case()
    gc.collect()
    return {"s": elapsed, "close_s": closing, "lag_ms": watch.lag * 1000,
            "rss_mb": rss_mb() - before, "outcome": outcome}


async def allocations(case: Case) -> tuple[float, float]:
    """(peak, kept) MB of Python allocations while `case` ran."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await case()
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (peak - base) / 1e6, (kept - base) / 1e6


async def run(repeat: int, start_timeout: float, call_timeout: float) -> None:
    from heavy_engine import ToolSettings, validate_config
    from heavy_engine.cli import collect_tools as collect
    from heavy_engine.cli import render_tools as render
    from heavy_engine.tools import ToolContext, execute_tool
    from heavy_engine.tools.mcp import McpPool

    def pool(servers: dict[str, Any]) -> McpPool:
        return McpPool(validate_config({"mcp_servers": servers}).mcp_servers, {})

    async def give_up(name: str, server: dict[str, Any]) -> tuple[str, float, float]:
        p = pool({name: server})
        started = time.monotonic()
        selection = await p.select([f"mcp__{name}"])
        elapsed = time.monotonic() - started
        await p.aclose()
        outcome = selection.down.get(name, "up?!").split(";")[0]
        return outcome, elapsed, time.monotonic() - started - elapsed

    async def start_failure() -> tuple[str, float, float]:
        return await give_up("gone", entry("exit"))

    async def start_hang() -> tuple[str, float, float]:
        return await give_up("hang", entry("hang", start_timeout=start_timeout))

    shared = pool({"t": entry("stdio", timeout=call_timeout), "big": entry("stdio")})
    ctx = ToolContext("bench", settings=ToolSettings())
    warm = await shared.select(["mcp__t", "mcp__big"])
    tools = {t.name: t for t in warm.tools_for(["mcp__t", "mcp__big"])}

    async def call(name: str, args: dict[str, Any], limit: float) -> tuple[str, float, float]:
        started = time.monotonic()
        res = await execute_tool(tools[name], name, json.dumps(args), ctx, limit)
        return (f"ok={res.ok} {len(res.text):,} chars: {res.text[-44:]!r}",
                time.monotonic() - started, 0.0)

    async def call_hang() -> tuple[str, float, float]:
        return await call("mcp__t__slow", {"seconds": 3600}, call_timeout)

    async def result_5mb() -> tuple[str, float, float]:
        return await call("mcp__big__big", {"megabytes": 5}, 120)

    async def idle() -> tuple[str, float, float]:
        await asyncio.sleep(call_timeout)
        return "nothing", call_timeout, 0.0

    await start_failure()  # warm-up: the failure path's imports
    await result_5mb()
    cases = {f"baseline: idle {call_timeout:g} s": idle,
             "start failure (exits at once)": start_failure,
             f"start hangs (start_timeout {start_timeout:g} s)": start_hang,
             f"call hangs (timeout {call_timeout:g} s)": call_hang,
             "5 MB result (cut to 8,000 chars)": result_5mb}
    print(f"{'case':34} {'go on s':>7} {'stop s':>6} {'lag ms (max)':>13} {'alloc peak':>10} "
          f"{'kept':>6} {'RSS +':>6}  outcome")
    try:
        for label, case in cases.items():
            runs = [await measure(case) for _ in range(repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in
                   ("s", "close_s", "lag_ms", "rss_mb")}
            worst = max(r["lag_ms"] for r in runs)
            peak, kept = max([await allocations(case) for _ in range(repeat)])
            print(f"{label:34} {med['s']:7.2f} {med['close_s']:6.2f} {med['lag_ms']:6.0f} "
                  f"({worst:4.0f}) {peak:7.1f} MB {kept:6.2f} {med['rss_mb']:6.1f}  "
                  f"{runs[-1]['outcome']}")
        still = await shared.select(["mcp__t"])
        print(f"after all cases the shared server is {shared.servers['t'].state}, "
              f"restarts {shared.servers['t'].restarts}; tools offered: "
              f"{len(still.tools_for(['mcp__t']))}")
    finally:
        await shared.aclose()

    config = validate_config({"mcp_servers": {"time": {"command": [
        sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]}},
        "tools": ["calculate", "mcp__time"]})
    started = time.monotonic()
    rows, _ = await collect(config, {})
    print(f"\n`heavy tools` for mcp-server-time ({time.monotonic() - started:.1f} s, start to "
          "stop):")
    print(render([r for r in rows if r.source == "mcp:time"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--start-timeout", type=float, default=5.0)
    parser.add_argument("--call-timeout", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(run(args.repeat, args.start_timeout, args.call_timeout))


if __name__ == "__main__":
    main()
