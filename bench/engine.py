"""Engine benchmark: N concurrent 4-agent questions against a fake LLM answering in 200 ms.

Each agent needs one tool call, so one question is 10 LLM calls with a critical path of 4 calls
(decompose, tool call, answer, synthesis) = 0.8 s. For 1, 100 and 1000 concurrent questions in
one process this prints: wall time / critical path, LLM calls, engine CPU per LLM call and peak
RSS. Each scenario runs in a fresh process (so peak RSS is its own); the fake server runs in
another process (so its CPU is not counted as the engine's).

    python bench/engine.py [--latency 0.2] [--scenarios 1,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENTS = 4
CRITICAL_CALLS = 4  # decompose -> tool call -> answer -> synthesis
TARGETS = {1: 1.03, 100: 1.5, 1000: 5.0}


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _scenario(base_url: str, concurrency: int, latency: float) -> dict[str, float]:
    from heavy_engine import Engine, HeavyRequest, tune_gc
    from heavy_engine.testing import fake_config

    config = fake_config(
        base_url,
        agents=AGENTS,
        tools=["calculate"],
        providers={"fake": {"max_concurrency": 8192}},
        timeouts={"request": 120, "agent": 120, "llm_call": 60},
    )
    async with Engine(config) as engine:
        warm = await engine.run(HeavyRequest("warm-up question", config))  # imports, first connect
        if warm.status != "ok":
            raise SystemExit(f"warm-up failed: {warm.error}")
        tune_gc()  # as `heavy serve` does once started
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(engine.run(HeavyRequest(f"Question number {i}: which database?", config))
              for i in range(concurrency))
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    failed = [r for r in results if r.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g.: {failed[0].error}")
    calls = sum(r.llm_calls for r in results)
    return {
        "concurrency": concurrency,
        "wall_s": wall,
        "ratio": wall / (CRITICAL_CALLS * latency),
        "llm_calls": calls,
        "calls_per_request": calls / concurrency,
        "cpu_ms_per_call": cpu * 1000 / calls,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(args: argparse.Namespace) -> None:
    stats = asyncio.run(_scenario(args.base_url, args.child, args.latency))
    print(json.dumps(stats))


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the fake LLM server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--scenarios", default="1,100,1000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit()
    if args.child:
        _child(args)
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "heavy_engine.testing.fake_llm", "--port", str(port),
         "--latency", str(args.latency)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    rows = []
    try:
        _wait_for(port)
        for n in (int(x) for x in args.scenarios.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--latency", str(args.latency),
                 "--base-url", f"http://127.0.0.1:{port}/v1"],
                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if out.returncode != 0:
                raise SystemExit(f"scenario {n} failed:\n{out.stderr[-3000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(timeout=10)
    critical = CRITICAL_CALLS * args.latency
    print(f"heavy engine benchmark: {AGENTS} agents, 1 tool call each, fake LLM at "
          f"{args.latency * 1000:.0f} ms/call, critical path {critical:.2f} s, {os.cpu_count()} cores")
    print(f"{'concurrent':>10} {'wall s':>8} {'x crit':>7} {'target':>7} {'LLM calls':>10} "
          f"{'calls/req':>9} {'CPU ms/call':>11} {'peak RSS MB':>11}")
    for r in rows:
        target = TARGETS.get(int(r["concurrency"]))
        print(f"{r['concurrency']:>10} {r['wall_s']:>8.2f} {r['ratio']:>7.2f} "
              f"{(f'{target:.2f}' if target else '-'):>7} {r['llm_calls']:>10} "
              f"{r['calls_per_request']:>9.1f} {r['cpu_ms_per_call']:>11.3f} {r['peak_rss_mb']:>11.1f}")


if __name__ == "__main__":
    main()
