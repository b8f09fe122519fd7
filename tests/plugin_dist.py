"""Writing a minimal installed distribution (modules plus *.dist-info), as pip would leave it.

Put its folder on `sys.path` (or `PYTHONPATH` for a subprocess) and `importlib.metadata` finds
its entry points: plugins are tested the way operators install them, with nothing patched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_dist(
    site: Path, name: str, entry_points: str, modules: dict[str, str] | None = None
) -> Path:
    """`entry_points` is the text of entry_points.txt; `modules` maps file names to sources."""
    site.mkdir(parents=True, exist_ok=True)
    for filename, source in (modules or {}).items():
        (site / filename).write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return site
