"""Names a package exports on first use (PEP 562), written once for every package that needs it.

A package whose public names would import something large (pydantic, aiohttp, the `mcp` SDK,
PostgreSQL's driver) or something that imports the package back lists those names in a table
and takes its module-level `__getattr__` and `__dir__` from `exports`:

    __getattr__, __dir__ = exports(__name__, {"Engine": "_engine", "register": "_home:register"})

A value names the module, relative to the package, that defines the attribute of the same
name, or `module:attribute` for another name. The first lookup imports that module and stores
the value in the package, so later lookups never come back here. mypy reads the package's
`if TYPE_CHECKING:` imports, not the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, table: Mapping[str, str]
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, whose names in `table` load on first use."""

    def __getattr__(name: str) -> Any:
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = where.partition(":")
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute or name)
        setattr(sys.modules[package], name, value)  # once: later lookups do not come back here
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
