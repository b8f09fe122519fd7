"""Database URLs, the runner each role gets, and the PostgreSQL test fixture's skip rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from heavy_engine.cli import main
from heavy_engine.db import database_url, is_postgres, libpq_url, normalize_url

from ..pg import REQUIRE_ENV, unavailable


@pytest.mark.parametrize(("given", "expected"), [
    # a plain libpq URL works as given
    ("postgresql://bot@db:5432/heavy", "postgresql+psycopg://bot@db:5432/heavy"),
    # Heroku-style scheme
    ("postgres://bot:pw@db/heavy", "postgresql+psycopg://bot:pw@db/heavy"),
    # psycopg2 URLs move to psycopg 3, the one driver
    ("postgresql+psycopg2://bot@db/heavy", "postgresql+psycopg://bot@db/heavy"),
    # already normalised
    ("postgresql+psycopg://bot@db/heavy", "postgresql+psycopg://bot@db/heavy"),
    # SQLite is left alone
    ("sqlite+aiosqlite:///./data/heavy.db", "sqlite+aiosqlite:///./data/heavy.db"),
])
def test_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
    assert database_url(given) == expected


def test_the_queue_gets_a_libpq_url() -> None:
    assert libpq_url("postgresql+psycopg://bot:pw@db:5432/heavy") == \
        "postgresql://bot:pw@db:5432/heavy"
    assert is_postgres("postgres://db/heavy") and not is_postgres("sqlite:///x.db")


@pytest.mark.parametrize("role", ["web", "worker"])
def test_split_roles_need_postgresql(role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEAVY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    argv = ["serve", "--role", role] if role == "web" else ["worker"]
    assert main([*argv, "--port", "0"]) == 2
    assert f"role {role!r} needs PostgreSQL" in capsys.readouterr().err


def test_a_bad_role_in_the_environment_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEAVY_ROLE", "everything")
    assert main(["serve", "--port", "0"]) == 2
    assert "HEAVY_ROLE must be one of all, web, worker" in capsys.readouterr().err


def test_missing_postgres_skips_or_fails_as_ci_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL tests skipped: no binaries"):
        unavailable("no binaries")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="HEAVY_REQUIRE_POSTGRES=1 but no binaries"):
        unavailable("no binaries")


def test_a_bad_event_loop_choice_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEAVY_EVENT_LOOP", "trio")
    assert main(["serve", "--port", "0"]) == 2
    assert "HEAVY_EVENT_LOOP must be uvloop or asyncio (got 'trio')" in capsys.readouterr().err


@pytest.mark.parametrize(("choice", "uv"), [(None, True), ("asyncio", False), ("uvloop", True)])
def test_the_service_runs_on_uvloop_unless_told_otherwise(choice: str | None, uv: bool) -> None:
    import asyncio

    import uvloop

    from heavy_engine.cli._loop import run

    async def loop_kind() -> bool:
        return isinstance(asyncio.get_running_loop(), uvloop.Loop)

    assert run(loop_kind(), {} if choice is None else {"HEAVY_EVENT_LOOP": choice}) is uv
