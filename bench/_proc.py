"""What the benches read about processes: a free port and a process's CPU time."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def thread_cpu(pid: int) -> float:
    """CPU seconds of a live process's threads, to the nanosecond (/proc/<pid>/task/*/schedstat;
    /proc/<pid>/stat counts 10 ms ticks, too coarse for the fake LLM's ~0.1 s in a run)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e9
