"""Storing the end of a job even when the database misbehaves.

Text is made storable before it reaches the database (a lone surrogate such as `\\ud800`, which
JSON and the models allow but UTF-8 cannot encode, becomes U+FFFD). A save that still fails is
retried briefly; then the job is stored as failed with a reference the user sees and the log
holds; when even that fails, the caller keeps the ended job in memory, so readers (and every SSE
stream) see it end.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

import orjson

from ._contract import Job

log = logging.getLogger("heavy.runtime")
RETRIES = 3
RETRY_DELAY_S = 0.5  # doubled after each failed attempt


class _Saves(Protocol):
    async def save(self, job: Job) -> None: ...


def storable_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (valid pairs are joined)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def storable(value: Any) -> Any:
    """`value` with every string in it (dict keys too) made storable.

    Almost every value already is: one orjson pass (C, ~2 us for a stored result) proves it,
    since orjson refuses a lone surrogate anywhere, keys included; only then is the value
    rebuilt string by string (~26 us, twice per job: ~1% of `heavy serve`'s CPU).
    """
    if isinstance(value, dict | list | tuple):
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:  # a lone surrogate, or a value orjson does not take
            return _rebuilt(value)
        return value
    return _rebuilt(value)


def _rebuilt(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {_rebuilt(k): _rebuilt(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rebuilt(v) for v in value]
    return value


async def save_retrying(store: _Saves, job: Job) -> None:
    """`store.save(job)`, tried `RETRIES` times with a short backoff; the last error raised."""
    delay = RETRY_DELAY_S
    for attempt in range(1, RETRIES + 1):
        try:
            await store.save(job)
            return
        except Exception as err:
            log.warning("job %s: saving it failed (attempt %d of %d): %s", job.id, attempt,
                        RETRIES, err)
            if attempt == RETRIES:
                raise
        await asyncio.sleep(delay)
        delay *= 2


async def save_end(store: _Saves, job: Job) -> bool:
    """Store the job's end; False when nothing could be stored (the job is then `failed` with
    a reference in memory only). Never raises, except for cancellation."""
    try:
        await save_retrying(store, job)
        return True
    except Exception:
        pass
    reference = uuid.uuid4().hex[:12]
    log.error("job %s: its end could not be saved; marked failed (reference %s)", job.id,
              reference)
    job.status = "failed"
    job.error = f"The answer could not be saved (reference {reference})."
    job.result = None  # the result may be what the database refuses
    try:
        await store.save(job)
    except Exception as err:
        log.error("job %s: even its failure could not be saved (reference %s): %s", job.id,
                  reference, err)
        return False
    return True
