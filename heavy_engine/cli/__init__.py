"""The `heavy` command. Each sub-command lives in its own module exposing `register(sub, parent)`.

Exit codes: 0 success, 1 the run failed, 2 bad usage or configuration.

Start-up is lazy: `heavy --version` and `heavy --help` import no heavy module (the engine,
pydantic, aiohttp and SQLAlchemy cost 1.5-2 s on a small machine), and `heavy ask ...` imports
only the `ask` module; the other sub-commands are listed by name and one-line help.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Collection, Sequence
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING

from ..lazy import exports as _exports
from ._common import COMMANDS, hide_secrets
from ._common import common_parent as _common_parent

if TYPE_CHECKING:
    from ._loop import run as run_loop
    from ._tools import collect as collect_tools
    from ._tools import render as render_tools

__all__ = ["build_parser", "collect_tools", "hide_secrets", "main", "render_tools", "run_loop"]

# For scripts (the benchmarks): the event loop `heavy serve` runs on, and what `heavy tools`
# lists. Loaded on first use, so `heavy --version` stays as light as it is.
__getattr__, __dir__ = _exports(__name__, {"run_loop": "_loop:run",
                                           "collect_tools": "_tools:collect",
                                           "render_tools": "_tools:render"})

_MODULES = {"ask": "_ask", "serve": "_serve", "worker": "_worker", "config": "_config_cmd",
            "db": "_db", "eval": "_eval", "mcp": "_mcp",
            "tools": "_tools"}
_TAKES_VALUE = ("--config",)  # options before the command that take the next word


def build_parser(full: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `full`, only those sub-commands are built whole (the others are
    listed, so `heavy --help` and a mistyped command read the same)."""
    parser = argparse.ArgumentParser(
        prog="heavy", description="Multi-agent answers for Slack and Discord.",
        parents=[_common_parent()],
    )
    parser.add_argument("--version", action="version", version=f"heavy {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _MODULES.items():
        if full is None or name in full:
            _module(module).register(sub, _common_parent())
        else:
            sub.add_parser(name, help=COMMANDS[name], add_help=False)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named in `argv` (the first word that is not an option or its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            skip = word in _TAKES_VALUE
        else:
            return word if word in _MODULES else None
    return None


def _version() -> str:
    try:
        return metadata.version("heavy")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    try:
        args = build_parser(full=[command] if command else []).parse_args(argv)
        _log_to_stderr(verbose=getattr(args, "verbose", False))
        code: int = args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C while a command loads: exit 130, no traceback
        return 130
    return code


def _log_to_stderr(*, verbose: bool) -> None:
    """Every command logs through a redacting formatter (`serve` installs its own, JSON-able).
    A warning reads like the command's own lines (`warning: ...`, no timestamp in the middle
    of a screen); `--verbose` adds the time and the logger's name."""
    handler = logging.StreamHandler()
    if verbose:
        from ..observability import RedactingFormatter

        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_CliFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])


class _CliFormatter(logging.Formatter):
    """`warning: message` (and a traceback when the record has one), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        from ..observability import redact

        return redact(f"{record.levelname.lower()}: {super().format(record)}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
