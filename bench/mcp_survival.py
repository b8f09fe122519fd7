"""MCP survival figures: a server that exits at once, one that hangs at start, a call that hangs,
and a 5 MB result; for each, the time to give up (or to answer), the worst event-loop lag while
it happened, and the memory (RSS) it took at its peak and kept after. Then the tools `heavy
tools` lists for the third-party `mcp-server-time`.

Each case runs `--repeat` times in one process after a warm-up (the SDK imported, one server
started and stopped), so imports are not counted as growth. The servers are the tests' own
(`tests/engine/tools/mcp/server.py`, written with the SDK) over stdio.

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


async def measure(case: Callable[[], Awaitable[str]]) -> dict[str, Any]:
    gc.collect()
    before = rss_mb()
    started = time.monotonic()
    async with Watch() as watch:
        outcome = await case()
    elapsed = time.monotonic() - started
    gc.collect()
    return {"s": elapsed, "lag_ms": watch.lag * 1000, "peak_mb": watch.peak - before,
            "kept_mb": rss_mb() - before, "outcome": outcome}


async def run(repeat: int, start_timeout: float, call_timeout: float) -> None:
    from heavy_engine import ToolSettings, validate_config
    from heavy_engine.cli._tools import collect, render
    from heavy_engine.tools import ToolContext, execute_tool
    from heavy_engine.tools.mcp import McpPool

    def pool(servers: dict[str, Any]) -> McpPool:
        return McpPool(validate_config({"mcp_servers": servers}).mcp_servers, {})

    async def start_failure() -> str:
        p = pool({"gone": entry("exit")})
        try:
            selection = await p.select(["mcp__gone"])
            return selection.down.get("gone", "up?!").split(";")[0]
        finally:
            await p.aclose()

    async def start_hang() -> str:
        p = pool({"hang": entry("hang", start_timeout=start_timeout)})
        try:
            selection = await p.select(["mcp__hang"])
            return selection.down.get("hang", "up?!").split(";")[0]
        finally:
            await p.aclose()  # not timed as giving up: a run has gone on by then

    shared = pool({"t": entry("stdio", timeout=call_timeout), "big": entry("stdio")})
    ctx = ToolContext("bench", settings=ToolSettings())
    warm = await shared.select(["mcp__t", "mcp__big"])
    tools = {t.name: t for t in warm.tools_for(["mcp__t", "mcp__big"])}

    async def call(name: str, args: dict[str, Any], timeout: float) -> str:
        res = await execute_tool(tools[name], name, json.dumps(args), ctx, timeout)
        return f"ok={res.ok} {len(res.text):,} chars: {res.text[-48:]!r}"

    async def call_hang() -> str:
        return await call("mcp__t__slow", {"seconds": 3600}, call_timeout)

    async def result_5mb() -> str:
        return await call("mcp__big__big", {"megabytes": 5}, 120)

    await start_failure()  # warm-up: the failure path's imports
    cases = {"start failure (exits at once)": start_failure,
             f"start hangs (start_timeout {start_timeout:g} s)": start_hang,
             f"call hangs (timeout {call_timeout:g} s)": call_hang,
             "5 MB result": result_5mb}
    print(f"{'case':40} {'give up/answer s':>16} {'loop lag ms':>12} {'peak MB':>8} "
          f"{'kept MB':>8}  outcome")
    try:
        for label, case in cases.items():
            runs = [await measure(case) for _ in range(repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in
                   ("s", "lag_ms", "peak_mb", "kept_mb")}
            worst = max(r["lag_ms"] for r in runs)
            print(f"{label:40} {med['s']:16.2f} {med['lag_ms']:7.1f} (max {worst:.0f})"
                  f"{med['peak_mb']:7.1f} {med['kept_mb']:8.1f}  {runs[-1]['outcome']}")
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
