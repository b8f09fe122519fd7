"""The `heavy` command. Each sub-command lives in its own module exposing `register(sub, parent)`.

Exit codes: 0 success, 1 the run failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from ..observability import RedactingFormatter
from . import _ask, _config_cmd, _db, _eval, _serve, _tools, _worker
from ._common import common_parent as _common_parent
from ._common import hide_secrets

__all__ = ["build_parser", "hide_secrets", "main"]

_COMMANDS = [_ask, _serve, _worker, _config_cmd, _db, _eval, _tools]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heavy", description="Multi-agent answers for Slack and Discord.",
        parents=[_common_parent()],
    )
    parser.add_argument("--version", action="version", version=f"heavy {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.register(sub, _common_parent())
    return parser


def _version() -> str:
    try:
        return metadata.version("heavy")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Every command logs through the redacting formatter (`serve` installs its own, JSON-able).
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        handlers=[handler],
    )
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
