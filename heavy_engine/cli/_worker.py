"""`heavy worker`: runs jobs from the PostgreSQL queue; `heavy serve --role worker` by another name.

It serves `/healthz` and `/metrics` (and the API) on its port, so probes and scrapes work the
same on every process.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import _serve
from ._common import COMMANDS


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[parent], help=COMMANDS["worker"])
    p.add_argument("--port", type=int,
                   help=f"health and metrics port (default: $PORT, else {_serve.DEFAULT_PORT})")
    p.add_argument("--host", help="interface (default: $HEAVY_HOST, else 0.0.0.0)")
    p.add_argument("--grace", type=float,
                   help="seconds running jobs get to finish on SIGTERM before they go back "
                        f"to the queue (default: $HEAVY_SHUTDOWN_GRACE, else "
                        f"{_serve.DEFAULT_GRACE:g})")
    p.set_defaults(handler=_serve.run, role="worker")
