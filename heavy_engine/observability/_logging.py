"""Logging setup: plain or JSON lines, secrets redacted, the current job id on every record.

One record is one line. Values logged come from users (an OAuth `error=` parameter, a file
name, a question): a newline in one could forge a whole `... ERROR ...` line. The text formatter
escapes control characters in the message once, here, instead of at every call site; JSON lines
are escaped by JSON itself. Tracebacks keep their lines.

The job id travels in a context variable, so engine and provider logs made on behalf of a job
carry it without being passed it: asyncio tasks copy the context they are created in.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from ._redact import redact

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("heavy_job_id",
                                                                       default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = job_id_var.get()
        return True


# C0 and C1 controls (newlines, carriage returns, terminal escapes), DEL, and the Unicode line
# and paragraph separators some log viewers break lines at.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`a\\nb` for a newline, `\\x1b` or `\\u2028` for the others: visible, on one line."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(), m.group().encode(
        "unicode_escape").decode("ascii")), text)


class RedactingFormatter(logging.Formatter):
    """`key=value` text lines (the job id when there is one), control characters escaped,
    redacted after formatting."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job = getattr(record, "job_id", None)
        if job:
            line = f"{line} job_id={job}"
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, job_id, extras, exc (all redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        job = getattr(record, "job_id", None)
        if job:
            data["job_id"] = job
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "job_id" and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        # Redact each value before encoding: JSON escaping could hide a secret's exact text.
        clean = {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}
        return redact(json.dumps(clean, default=str, ensure_ascii=False))


def configure_logging(
    fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root handlers with one redacting handler; returns it (tests detach it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_JobIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log repeats what the metrics count, and procrastinate's three lines
    # per job (started, succeeded...) repeat heavy's own "job ... done" (formatting and
    # redacting them was 4% of a worker's CPU): keep both for debugging only.
    for chatty in ("aiohttp.access", "procrastinate"):
        logging.getLogger(chatty).setLevel(
            logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
    return handler
