"""Engine benchmark: N concurrent 4-agent questions against a fake LLM answering in 200 ms.

Each agent needs one tool call, so one question is 10 LLM calls with a critical path of 4 calls
(decompose, tool call, answer, synthesis) = 0.8 s. For 1, 100 and 1000 concurrent questions in
one process this prints: wall time / critical path, LLM calls, engine CPU per LLM call and peak
RSS. With rounds=2 (the agents compare notes: 14 calls, critical path 5 calls = 1.0 s) it does
the same for `--rounds2` concurrencies. Each scenario runs in a fresh process (so peak RSS is its own); the fake server runs in
another process (so its CPU is not counted as the engine's).

The fake LLM does the same work for every call, so its own CPU per call (the machine gauge, as
bench/replicas.py prints it) says how fast this shared machine ran; the engine's CPU per call is
printed as a ratio to it, so figures compare across days (target: at most 2x the gauge). The
`floor` column is aiohttp's client alone making the same waves of calls with nothing of the
engine (`_http_floor`), in gauges of its own run: the engine cannot cost less than that while
its calls go through aiohttp.

    python bench/engine.py [--latency 0.2] [--scenarios 1,100,1000] [--rounds2 1,100,1000]
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

from _proc import free_port, thread_cpu

ROOT = Path(__file__).resolve().parent.parent
AGENTS = 4
CRITICAL_CALLS = {1: 4, 2: 5}  # decompose -> tool call -> answer (-> compare notes) -> synthesis
TARGETS = {1: 1.03, 100: 1.5, 1000: 5.0}
CPU_TARGET = 2.0  # engine CPU per LLM call, in machine gauges (issue 28)


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def gauge_mark(ratio: float, target: float) -> str:
    """The verdict column: empty when `ratio` (CPU per call in gauges) is within `target`."""
    return "" if ratio <= target else "MISSED"


async def _scenario(
    base_url: str, concurrency: int, latency: float, rounds: int, fake_pid: int
) -> dict[str, float]:
    from heavy_engine import Engine, HeavyRequest, tune_gc
    from heavy_engine.testing import fake_config

    config = fake_config(
        base_url,
        agents=AGENTS,
        rounds=rounds,
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
        fake0 = thread_cpu(fake_pid)
        results = await asyncio.gather(
            *(engine.run(HeavyRequest(f"Question number {i}: which database?", config))
              for i in range(concurrency))
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        fake_cpu = thread_cpu(fake_pid) - fake0
        floor = await _http_floor(base_url, concurrency, rounds, fake_pid)
    failed = [r for r in results if r.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g.: {failed[0].error}")
    calls = sum(r.llm_calls for r in results)
    return {
        "concurrency": concurrency,
        "rounds": rounds,
        "wall_s": wall,
        "ratio": wall / (CRITICAL_CALLS[rounds] * latency),
        "llm_calls": calls,
        "calls_per_request": calls / concurrency,
        "cpu_ms_per_call": cpu * 1000 / calls,
        "gauge_us": fake_cpu * 1e6 / calls,  # the fake LLM's own CPU per call
        "x_gauge": cpu / max(fake_cpu, 1e-9),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **floor,
    }


async def _http_floor(base_url: str, concurrency: int, rounds: int,
                      fake_pid: int) -> dict[str, float]:
    """The HTTP client alone: the same waves of calls as `concurrency` questions make
    (decompose, the agents' calls, synthesis), each one POST of a prepared agent body and a
    read of the reply through an aiohttp session built as the provider builds its own (fresh,
    so its connections are opened as the engine's were). Nothing of the engine runs: what it
    costs per call, in gauges, is the least the engine can cost while its calls go through
    aiohttp."""
    import aiohttp
    import orjson

    from heavy_engine.providers import DirectConnector

    url = f"{base_url}/chat/completions"
    body = orjson.dumps({
        "model": "fake/model", "max_tokens": 1000,
        "messages": [{"role": "system", "content": "You are one agent of several. " * 8},
                     {"role": "user", "content": "Question number 7: which database? " * 4}]})
    waves = [concurrency, *[concurrency * AGENTS] * (CRITICAL_CALLS[rounds] - 2), concurrency]
    session = aiohttp.ClientSession(
        connector=DirectConnector(limit=8192, limit_per_host=8192, keepalive_timeout=30),
        headers={"Content-Type": "application/json", "Authorization": "Bearer floor"},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), trust_env=False)

    async def call() -> None:
        async with session.post(url, data=body) as response:
            orjson.loads(await response.read())

    try:
        cpu0, fake0 = time.process_time(), thread_cpu(fake_pid)
        for n in waves:
            await asyncio.gather(*(call() for _ in range(n)))
        cpu, fake_cpu = time.process_time() - cpu0, thread_cpu(fake_pid) - fake0
    finally:
        await session.close()
    return {"floor_us": cpu * 1e6 / sum(waves), "floor_x_gauge": cpu / max(fake_cpu, 1e-9)}


def _child(args: argparse.Namespace) -> None:
    from heavy_engine.cli import run_loop as run  # the event loop `heavy serve` runs on (uvloop)

    stats = run(_scenario(args.base_url, args.child, args.latency, args.rounds, args.fake_pid),
                os.environ)
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
    parser.add_argument("--rounds2", default="1,100,1000",
                        help="concurrencies to run again with rounds=2 (empty: none)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--fake-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit()
    if args.child:
        _child(args)
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "heavy_engine.testing.fake_llm", "--port", str(port),
         "--latency", str(args.latency)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    rows = []
    try:
        _wait_for(port)
        plan = [(int(x), 1) for x in args.scenarios.split(",") if x.strip()]
        plan += [(int(x), 2) for x in args.rounds2.split(",") if x.strip()]
        for n, rounds in plan:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--latency", str(args.latency),
                 "--rounds", str(rounds), "--base-url", f"http://127.0.0.1:{port}/v1",
                 "--fake-pid", str(server.pid)],
                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if out.returncode != 0:
                raise SystemExit(f"scenario {n} (rounds={rounds}) failed:\n{out.stderr[-3000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(timeout=10)
    crit = {r: c * args.latency for r, c in CRITICAL_CALLS.items()}
    print(f"heavy engine benchmark: {AGENTS} agents, 1 tool call each, fake LLM at "
          f"{args.latency * 1000:.0f} ms/call, critical path {crit[1]:.2f} s "
          f"(rounds=2: {crit[2]:.2f} s), {os.cpu_count()} cores")
    print(f"{'rounds':>6} {'concurrent':>10} {'wall s':>8} {'x crit':>7} {'target':>7} "
          f"{'LLM calls':>10} {'calls/req':>9} {'CPU ms/call':>11} {'gauge µs':>8} "
          f"{'x gauge':>7} {'target':>6} {'':>6} {'floor':>6} {'peak RSS MB':>11}")
    for r in rows:
        target = TARGETS.get(int(r["concurrency"]))
        print(f"{r['rounds']:>6} {r['concurrency']:>10} {r['wall_s']:>8.2f} {r['ratio']:>7.2f} "
              f"{(f'{target:.2f}' if target else '-'):>7} {r['llm_calls']:>10} "
              f"{r['calls_per_request']:>9.1f} {r['cpu_ms_per_call']:>11.3f} "
              f"{r['gauge_us']:>8.0f} {r['x_gauge']:>7.2f} {f'<={CPU_TARGET:g}':>6} "
              f"{gauge_mark(r['x_gauge'], CPU_TARGET):>6} {r['floor_x_gauge']:>6.2f} "
              f"{r['peak_rss_mb']:>11.1f}")
    print("gauge: the fake LLM's own CPU per call; x gauge: the engine's CPU per call in gauges;\n"
          "floor: aiohttp's client alone making the same waves of calls (no engine), in gauges")


if __name__ == "__main__":
    main()
