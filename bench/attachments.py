"""Hostile attachments against the service process: does a file hurt the service that reads it?

Builds five files, serves them from a local server (as Slack's file host, `SLACK_API_URL`) and
has a fresh "service" process read each one with `fetch_attachments`, after one warm-up file
(a service that has been up a while). For each file it prints:

- loop lag: the longest the event loop was late on a 5 ms tick while the file was read, and
  the same over as long again of idling afterwards (the machine's noise: a busy machine delays
  any process's wake-ups, whatever it runs);
- loop busy: the most CPU the loop's thread spent between two ticks, i.e. the longest stretch
  of work that held the loop (unlike the lag, not inflated by other processes' load);
- service CPU: CPU seconds the service process itself spent while the file was read;
- RSS growth: the service process's peak resident memory minus before (sampled every 2 ms by a
  thread, which runs even when the loop is blocked);
- time: from asking to the answer (a document or a skipped note), and the note;
- left running: CPU seconds the service and the child processes it had before the file spent
  in the 2 s after the answer (a thread or process still parsing shows here; a fresh worker
  started in place of a killed one is not leftover work), and the service's thread count.

Targets: lag < 50 ms, RSS growth < 50 MB, skipped within its deadline, nothing left running.

    python bench/attachments.py [--only pdf-60mb-stream,...]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HEAVY_BENCH_CACHE", "/tmp/heavy-bench-attachments"))
_PAGE = os.sysconf("SC_PAGE_SIZE")

# name -> (file name in the chat, mimetype, Content-Encoding header or None)
FILES: dict[str, tuple[str, str, str | None]] = {
    "gzip-2-layers-1gb": ("notes.txt", "text/plain", "gzip, gzip"),
    "gzip-300mb": ("log.txt", "text/plain", "gzip"),
    "pdf-60mb-stream": ("report.pdf", "application/pdf", None),
    "pdf-20000-pages": ("book.pdf", "application/pdf", None),
    "text-2kb": ("readme.txt", "text/plain", None),
}


# -- building the files ------------------------------------------------------------------------

def _gzip_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, compressed a chunk at a time (never `size` in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    out = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join(out) + packer.flush()


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (object 1 is the catalog), with a real cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _pdf_big_stream(expanded: int = 60_000_000) -> bytes:
    """One page whose Flate content stream expands to `expanded` bytes: one text object of
    short lines, nearly all alike (so it packs about 400:1), each a text-showing operator."""
    rng = random.Random(27)
    lines, size = [b"BT /F1 9 Tf 72 780 Td\n"], 0
    while size < expanded:
        line = b"0 -1 Td (%s) Tj\n" % (b"ab%d" % rng.randrange(100) if len(lines) % 1024 == 0
                                     else b"abc")
        lines.append(line)
        size += len(line)
    lines.append(b"ET\n")
    stream = zlib.compress(b"".join(lines), 9)
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
        + b"\nendstream",
        _FONT,
    ])


def _pdf_many_pages(pages: int = 20_000) -> bytes:
    """`pages` pages sharing one small content stream and font."""
    first = 5
    kids = b" ".join(b"%d 0 R" % (first + i) for i in range(pages))
    text = b"BT /F1 12 Tf 72 720 Td (A page of a long book.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        _FONT,
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                b"/Resources << /Font << /F1 4 0 R >> >> >>"] * pages
    return _pdf(objects)


def build(name: str) -> bytes:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if path.exists():
        return path.read_bytes()
    if name == "gzip-2-layers-1gb":
        data = gzip.compress(_gzip_zeros(1 << 30), 9)
    elif name == "gzip-300mb":
        data = _gzip_zeros(300 << 20)
    elif name == "pdf-60mb-stream":
        data = _pdf_big_stream()
    elif name == "pdf-20000-pages":
        data = _pdf_many_pages()
    else:
        data = b"".join(b"line %d of a small plain text file for the control case\n" % i
                        for i in range(34))
    path.write_bytes(data)
    return data


# -- the service process: read one file and measure ------------------------------------------

def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _children() -> set[str]:
    return {pid for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()}


def _cpu_of(pids: set[str]) -> float:
    """CPU seconds of those of `pids` still alive (their /proc stat), summed."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def _cpu() -> float:
    now = os.times()
    return now.user + now.system


async def _read_one(base: str, name: str) -> dict[str, Any]:
    from heavy_engine.attachments import Attachment, fetch_attachments, slack_policy

    policy = slack_policy("xoxb-bench", {"SLACK_API_URL": base + "/api/"})
    warm = Attachment("warm-up.txt", f"{base}/text-2kb", None, "text/plain", "slack")
    await fetch_attachments([warm], policy)  # a service that has been up a while
    file_name, mimetype, _ = FILES[name]
    att = Attachment(file_name, f"{base}/{name}", None, mimetype, "slack")

    rss0, peak, sampling = _rss(), [0], True

    def sample() -> None:
        while sampling:
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lag, busy = [0.0], [0.0]

    async def ticks() -> None:
        while True:
            started, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(0.005)
            lag[0] = max(lag[0], time.monotonic() - started - 0.005)
            busy[0] = max(busy[0], time.thread_time() - cpu)

    ticker = asyncio.create_task(ticks())
    await asyncio.sleep(0.1)
    lag[0] = busy[0] = 0.0
    children = _children()  # the pool's workers so far (a replacement started later is not
    started, cpu_before = time.monotonic(), _cpu()  # leftover work: its start-up is excluded)
    got = await fetch_attachments([att], policy)
    took, service_cpu = time.monotonic() - started, _cpu() - cpu_before
    read_lag, read_busy, read_peak = lag[0], busy[0], peak[0]
    ticker.cancel()
    # Anything still working after the answer: CPU here and in the workers that were there
    # before, over 2 s with nothing else running (the ticks would count themselves).
    cpu0, kids0 = _cpu(), _cpu_of(children)
    await asyncio.sleep(2.0)
    cpu1, kids1 = _cpu(), _cpu_of(children)
    # Then the machine's own lag, idle, over as long as the read took (at least 2 s).
    lag[0] = 0.0
    ticker = asyncio.create_task(ticks())
    await asyncio.sleep(max(2.0, took))  # the RSS sampler runs on, as it did during the read
    ticker.cancel()
    sampling = False
    sampler.join()
    note = got.notes[0] if got.notes else (
        f"read {len(got.documents[0].text):,} characters" if got.documents else "?")
    return {"lag_ms": read_lag * 1000, "idle_lag_ms": lag[0] * 1000, "busy_ms": read_busy * 1000,
            "service_cpu_s": service_cpu, "rss_mb": max(0, read_peak - rss0) / 1e6,
            "took_s": took, "note": note, "after_cpu_s": cpu1 - cpu0,
            "children_cpu_s": kids1 - kids0, "threads": threading.active_count()}


# -- the bench -------------------------------------------------------------------------------

async def _serve() -> tuple[Any, str]:
    from aiohttp import web

    datas = {name: build(name) for name in FILES}

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in datas:
            raise web.HTTPNotFound()
        headers = {"Content-Type": "application/octet-stream"}
        if FILES[name][2]:
            headers["Content-Encoding"] = FILES[name][2]  # type: ignore[assignment]
        return web.Response(body=datas[name], headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def main(only: list[str]) -> None:
    runner, base = await _serve()
    print(f"{'file':18} {'size':>8} {'lag max':>8} {'(idle)':>7} {'busy':>6} {'svc CPU':>8} "
          f"{'RSS +':>7} "
          f"{'time':>7} {'CPU after':>9} {'threads':>7}  note")
    try:
        for name in only:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--measure", name, "--base", base,
                stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
            out, _ = await proc.communicate()
            try:
                r = json.loads(out.decode().strip().splitlines()[-1])
            except (IndexError, ValueError):
                print(f"{name:20} the service process died (exit {proc.returncode})")
                continue
            size = len(build(name))
            print(f"{name:18} {size / 1000:>6.0f}KB {r['lag_ms']:>6.0f}ms "
                  f"{r['idle_lag_ms']:>5.0f}ms {r['busy_ms']:>4.0f}ms "
                  f"{r['service_cpu_s']:>7.2f}s {r['rss_mb']:>5.0f}MB "
                  f"{r['took_s']:>6.2f}s {r['after_cpu_s'] + r['children_cpu_s']:>8.2f}s "
                  f"{r['threads']:>7}  {r['note'][:80]}")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default=",".join(FILES))
    parser.add_argument("--measure")
    parser.add_argument("--base")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(_read_one(args.base, args.measure))))
    else:
        asyncio.run(main(args.only.split(",")))
