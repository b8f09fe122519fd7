"""deploy/README.md's systemd steps and deploy/heavy.service's comment are the same commands,
in the same order, and the environment file is filled in before the service first starts."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _commands(lines: list[str]) -> list[str]:
    """Each command without its trailing comment, spaces collapsed."""
    return [" ".join(line.split("  #")[0].split()) for line in lines if line.strip()]


def _readme_steps() -> list[str]:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = text.split("## systemd", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [c for c in _commands(block.splitlines()) if not c.startswith("journalctl")]


def _unit_steps() -> list[str]:
    lines = (DEPLOY / "heavy.service").read_text(encoding="utf-8").splitlines()
    return _commands([ln.removeprefix("#   ") for ln in lines if ln.startswith("#   ")])


def test_the_readme_and_the_unit_give_the_same_steps() -> None:
    assert _readme_steps() == _unit_steps()


def test_the_env_file_is_filled_in_before_the_first_start() -> None:
    steps = _unit_steps()
    edit = next(i for i, c in enumerate(steps) if c.startswith("sudoedit /etc/heavy/heavy.env"))
    start = next(i for i, c in enumerate(steps) if "systemctl enable --now heavy" in c)
    assert steps.index("sudo install -m 600 deploy/.env.example /etc/heavy/heavy.env") < edit
    assert edit < start
    unit = (DEPLOY / "heavy.service").read_text(encoding="utf-8")
    assert "EnvironmentFile=/etc/heavy/heavy.env" in unit
    assert "ExecStart=/opt/heavy/.venv/bin/heavy serve" in unit
