"""The extraction worker: a child process that reads files' text for the service (see `_pool`).

Run by path, `python -I .../_worker.py MEMORY_BYTES`: without its package, so the engine is not
imported (two seconds and 80 MB less per worker). It limits its own address space and lowers
its priority (the service's event loop comes first on a busy machine), then answers requests on stdin/stdout until stdin closes (the service went away).
A frame is a 4-byte big-endian length and that many bytes; a request is a JSON header frame
(`{"kind": "pdf" | "text", "max_pages": n, "cpu_s": s}`) then the file's bytes, an answer one
JSON frame: `{"text": ..., "pages": n}` or `{"skip": reason}`.
"""

from __future__ import annotations

import json
import math
import os
import resource
import struct
import sys
from typing import Any, BinaryIO

if __package__:
    from ._extract import PdfUnreadable, decode_text, pdf_text
else:  # run by path (see the module doc): `_extract` sits next to this file
    from _extract import PdfUnreadable, decode_text, pdf_text  # type: ignore[import-not-found,no-redef]

_LEN = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: BinaryIO, body: bytes) -> None:
    stream.write(_LEN.pack(len(body)) + body)
    stream.flush()


def limit_cpu(seconds: float) -> None:
    """SIGXCPU (which ends this process) once this request used `seconds` more CPU: the limit
    counts the process's whole life, so it is moved on before every request."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def answer(header: dict[str, Any], data: bytes) -> dict[str, Any]:
    if header["kind"] == "text":
        text = decode_text(data)
        return {"skip": "not text (binary content)"} if text is None else {"text": text}
    try:
        text, pages = pdf_text(data, int(header["max_pages"]))
    except PdfUnreadable as err:
        return {"skip": f"PDF {err}"}
    except MemoryError:
        return {"skip": "PDF needs more memory than a file may use"}
    return {"text": text, "pages": pages}


def main(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.nice(10)
    import pypdf  # noqa: F401  (imported once here, not per file; under the memory limit)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    write_frame(stdout, b'{"ready": true}')
    while (head := read_frame(stdin)) is not None:
        header = json.loads(head)
        data = read_frame(stdin)
        if data is None:
            break
        limit_cpu(float(header["cpu_s"]))
        try:
            reply = answer(header, data)
        except MemoryError:
            reply = {"skip": "needs more memory than a file may use"}
        del data
        write_frame(stdout, json.dumps(reply).encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
