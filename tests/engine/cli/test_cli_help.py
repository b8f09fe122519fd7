"""`heavy --version` and the exit codes in `heavy ask --help`."""

from __future__ import annotations

from importlib import metadata

import pytest

from heavy_engine.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"heavy {metadata.version('heavy')}"


def test_ask_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out
