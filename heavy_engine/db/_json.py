"""JSON for the database's JSON columns (jobs' results and settings, job events): orjson.

SQLAlchemy's default (the standard library) encoded every stored result and event row; with
orjson the events of 300 questions cost a fraction. Two things orjson refuses are kept working:
text with a lone surrogate is stored with "?" in its place (it is not UTF-8; the jobs
package replaces them earlier, `jobs.storable`: this is the last line), and a stored escaped lone surrogate (written by
an older version) is read by the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "replace").decode()


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
