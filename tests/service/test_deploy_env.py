"""deploy/.env.example promises "every environment variable heavy reads": keep it true."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# `env.get("NAME")`, `environ["NAME"]`, `os.environ.get("NAME")`: how heavy reads variables.
_READ = re.compile(r"\b(?:env|environ)(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]+)\"")
# Read by tests and plugins only, not something an operator sets.
_NOT_FOR_OPERATORS: set[str] = set()


def _read_by_code() -> set[str]:
    names: set[str] = set()
    for folder in ("heavy_engine", "bots"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(_READ.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_scan_finds_what_the_service_reads() -> None:
    assert {"HEAVY_API_TOKEN", "SLACK_BOT_TOKEN", "DISCORD_TOKEN", "PORT"} <= _read_by_code()


def test_env_example_lists_every_variable_heavy_reads() -> None:
    example = (REPO / "deploy" / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert sorted(_read_by_code() - _NOT_FOR_OPERATORS - listed) == []
