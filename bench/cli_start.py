"""How fast the `heavy` command answers: `--version`, `--help`, and `heavy ask`'s first frame.

    .venv/bin/python bench/cli_start.py [--runs 10]

Each figure is wall time from spawning the process: to its exit for `--version` and `--help`,
and for `heavy ask` to the first frame of the live view on a terminal (a pty; the header line
`heavy ... · starting` or later), after which the run is stopped. The simulated model answers
(no key in the environment), so no server is needed. Prints min / median / max per command.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = Path(sys.executable).with_name("heavy")
# The view's header, `heavy · starting · 0.0s` (then `heavy <id> · decomposing · ...`).
ANY_FRAME = (b" \xc2\xb7 starting", b" \xc2\xb7 decomposing", b" \xc2\xb7 researching")


def _env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "TERM": env.get("TERM", "xterm-256color"), "COLUMNS": "120", "LINES": "40"}


CPU: list[float] = []  # user + system seconds of each child (to its exit, or its first frame)


def exit_time(*args: str) -> float:
    """Wall seconds to the child's exit; its CPU seconds go to `CPU` (a figure a machine busy
    with other work changes much less than the wall time)."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(HEAVY), *args], env=_env(), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"heavy {' '.join(args)} exited with {proc.returncode}")
    CPU.append(usage.ru_utime + usage.ru_stime)
    return wall


def first_frame(folder: Path) -> float:
    """Seconds until `heavy ask` has drawn its first frame on a terminal."""
    main, child = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen([str(HEAVY), "ask", "Compare SQLite and PostgreSQL"], cwd=folder,
                            env=_env(), stdin=child, stdout=child, stderr=child)
    os.close(child)
    seen = b""
    try:
        while time.perf_counter() - start < 30:
            ready, _, _ = select.select([main], [], [], 0.01)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if any(mark in seen for mark in ANY_FRAME):
                    wall = time.perf_counter() - start
                    CPU.append(_cpu_so_far(proc.pid))
                    return wall
        raise SystemExit(f"no frame within 30 s; the terminal showed:\n{seen.decode(errors='replace')}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(main)


def _cpu_so_far(pid: int) -> float:
    """User + system seconds a running process has used (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _line(name: str, times: list[float]) -> str:
    return (f"{name:<22} min {min(times):.3f} s   median {statistics.median(times):.3f} s   "
            f"max {max(times):.3f} s   ({len(times)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not HEAVY.exists():
        raise SystemExit(f"{HEAVY} not found: run `make install` first")
    folder = Path(tempfile.mkdtemp(prefix="heavy-cli-start-"))
    try:
        exit_time("--version")  # warm the file cache once
        for flag in ("--version", "--help"):
            CPU.clear()
            print(_line(f"heavy {flag}", [exit_time(flag) for _ in range(args.runs)]))
            print(f"{'':<22} CPU (user + system) median {statistics.median(CPU):.3f} s")
        CPU.clear()
        print(_line("heavy ask, first frame", [first_frame(folder) for _ in range(args.runs)]))
        print(f"{'':<22} CPU (user + system) median {statistics.median(CPU):.3f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
