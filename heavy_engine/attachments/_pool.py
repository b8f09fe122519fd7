"""A few worker processes that read files' text, so a hostile file cannot hurt the service.

A PDF whose content stream expands to 60 MB kept pypdf busy for 20 s and 400 MB in a thread of
the service: the GIL stalled the event loop, and the thread could not be stopped at the
deadline. Here each file goes to a child process (`_worker`) that limits its own address space
(`RLIMIT_AS`) and, per file, its CPU time (`RLIMIT_CPU`); the service waits without blocking
(the pipes are non-blocking, watched by the event loop) and kills the child at the deadline.
A killed or crashed worker is reaped at once and a fresh one is started in its place.

The pool belongs to the process, not to an event loop: a worker waiting for work has no file
descriptor registered anywhere, so tests with one loop each share it safely.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from ._worker import _LEN

log = logging.getLogger("heavy.attachments")

WORKERS = 2  # files are read one at a time per worker; more wait their turn
MEMORY_BYTES = 768 * 1024 * 1024  # address space of one worker (Python + pypdf + one file)
START_TIMEOUT_S = 60.0  # a worker's start-up (the interpreter and pypdf), not a file's time
_WORKER = str(Path(__file__).resolve().with_name("_worker.py"))


class ExtractFailed(Exception):
    """The worker did not answer; `str(err)` is the reason for the note."""


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Worker:
    def __init__(self, memory: int) -> None:
        # -E -s: no PYTHONPATH, no user site: the standard library, pypdf and the files here.
        self.proc = subprocess.Popen([sys.executable, "-E", "-s", _WORKER, str(memory)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out, self.inp = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        os.set_blocking(self.inp, False)
        self.buffer = bytearray()
        self.started = False

    async def _ready(self, fd: int, write: bool) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        watch, unwatch = ((loop.add_writer, loop.remove_writer) if write
                          else (loop.add_reader, loop.remove_reader))
        watch(fd, _settle, done)
        try:
            await done
        finally:
            unwatch(fd)

    async def _send(self, body: bytes) -> None:
        view = memoryview(_LEN.pack(len(body)) + body)
        while view:
            try:
                view = view[os.write(self.out, view[:1 << 16]):]
            except BlockingIOError:
                await self._ready(self.out, write=True)
            except BrokenPipeError:
                raise ExtractFailed(await self._death()) from None

    async def _recv(self) -> dict[str, Any]:
        while True:
            if len(self.buffer) >= _LEN.size:
                (size,) = _LEN.unpack_from(self.buffer)
                if len(self.buffer) >= _LEN.size + size:
                    frame = bytes(self.buffer[_LEN.size:_LEN.size + size])
                    del self.buffer[:_LEN.size + size]
                    return dict(json.loads(frame))
            try:
                chunk = os.read(self.inp, 1 << 16)
            except BlockingIOError:
                await self._ready(self.inp, write=False)
                continue
            if not chunk:
                raise ExtractFailed(await self._death())
            self.buffer += chunk

    async def _death(self) -> str:
        """Why the worker went away, once it is reaped (its pipe closes just before)."""
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.005)
        code = self.proc.poll()
        if code == -signal.SIGXCPU:
            return "used more CPU time than a file may"
        if code == -signal.SIGKILL:
            return "needs more memory than a file may use"  # the kernel's OOM killer
        return f"could not be read (the reader stopped, exit {code})"

    async def start(self) -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            await self._recv()  # {"ready": true}
        self.started = True

    async def ask(self, header: dict[str, Any], data: bytes) -> dict[str, Any]:
        await self._send(json.dumps(header).encode())
        await self._send(data)
        return await self._recv()

    async def kill(self) -> None:
        """Kill and reap (no zombie, no open pipe); SIGKILL ends it within milliseconds."""
        if self.proc.poll() is None:
            self.proc.kill()
        # Not an asyncio subprocess (the pool outlives event loops): no event to wait on.
        while self.proc.poll() is None:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        self.close()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:  # a pipe whose reader is gone
                pass


class ExtractPool:
    """`await pool.run("pdf", data, seconds=20, max_pages=100)` -> the worker's answer dict."""

    def __init__(self, size: int = WORKERS, memory: int = MEMORY_BYTES) -> None:
        self.size = size
        self.memory = memory
        self.idle: list[_Worker] = []
        self.live = 0  # idle and busy workers
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.replaced = 0  # workers killed or lost and started anew (for tests and figures)

    async def run(self, kind: str, data: bytes, *, seconds: float,
                  max_pages: int = 0) -> dict[str, Any]:
        worker = await self._take()
        keep = False
        try:
            if not worker.started:
                try:
                    await worker.start()
                except TimeoutError:
                    raise ExtractFailed("the file reader did not start") from None
            header = {"kind": kind, "max_pages": max_pages, "cpu_s": seconds}
            async with asyncio.timeout(seconds):
                reply = await worker.ask(header, data)
            keep = True
            return reply
        except TimeoutError:
            raise ExtractFailed(f"took more than {seconds:g} s to read") from None
        finally:
            if keep:
                self.idle.append(worker)
            else:  # timed out, died, or its caller was cancelled mid-file: never reused
                self.live -= 1
                self.replaced += 1
                await asyncio.shield(worker.kill())
                self._replace()
            self._wake()

    def _replace(self) -> None:
        """A fresh worker at once: it loads pypdf while the service goes on, so the next file
        does not wait for a start-up."""
        if self.live >= self.size:
            return
        try:
            fresh = _Worker(self.memory)
        except OSError:  # out of processes or memory: the next file tries again
            log.warning("could not start a file reader; the next file will try again")
            return
        self.live += 1
        self.idle.append(fresh)

    async def _take(self) -> _Worker:
        while not self.idle and self.live >= self.size:
            waiter = asyncio.get_running_loop().create_future()
            self.waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._wake()  # a wake-up this waiter may have taken goes to the next one
                raise
        if self.idle:
            return self.idle.pop()
        self.live += 1
        try:
            return _Worker(self.memory)
        except OSError:
            self.live -= 1
            raise

    def _wake(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.get_loop().call_soon_threadsafe(_settle, waiter)
                return

    def close(self) -> None:
        """Stop the idle workers (at exit; busy ones die with their stdin)."""
        for worker in self.idle:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
            worker.close()
        self.live -= len(self.idle)
        self.idle.clear()


_POOL: ExtractPool | None = None


def shared_pool() -> ExtractPool:
    """The process's pool, started on first use and stopped at exit."""
    global _POOL
    if _POOL is None:
        _POOL = ExtractPool()
        atexit.register(_POOL.close)
    return _POOL
