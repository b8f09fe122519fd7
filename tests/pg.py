"""A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary folder and `postgres`
on a free loopback port, from the installed server binaries (never the machine's own server).

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user.
When the binaries (or psycopg) are missing the PostgreSQL tests are skipped with one line;
`HEAVY_REQUIRE_POSTGRES=1` (set by `.ci/run`) turns that skip into a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ENV = "HEAVY_REQUIRE_POSTGRES"
_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


OPTIONS_ENV = "HEAVY_TEST_PG_OPTIONS"


def server_bin() -> Path | None:
    """The newest folder holding both `initdb` and `postgres`, or None."""
    candidates = [Path(p) for pattern in _SEARCH for p in glob.glob(pattern)]
    found = [p for p in candidates if (p / "initdb").exists() and (p / "postgres").exists()]
    found.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")])
    return found[-1] if found else None


def unavailable(reason: str) -> None:
    """Skip, or fail when CI requires PostgreSQL."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running cluster; `url(db)` gives a `postgresql://` URL to one of its databases."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="heavy-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    def start(self) -> None:
        log = self.root / "initdb.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--no-sync"],
                stdout=out, stderr=subprocess.STDOUT, check=False, **self._run_as)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {log.read_text(errors='replace')[-2000:]}")
        with (self.root / "server.log").open("wb") as server_log:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300",
                 # more server options for a benchmark's profile, e.g. "-c
                 # shared_preload_libraries=pg_stat_statements"
                 *os.environ.get(OPTIONS_ENV, "").split()],
                stdout=server_log, stderr=subprocess.STDOUT, **self._run_as)
        self._wait_ready()

    def _wait_ready(self, within: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + within
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited: " + self.log_tail())
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postgres did not start: " + self.log_tail()) from None
                time.sleep(0.1)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        return ""

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: fast shutdown
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Iterator[Cluster]:
    """The body of the session fixture: start, yield, stop."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[dev]')")
    bindir = server_bin()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (install Debian's `postgresql` package)")
        raise AssertionError  # unreachable: skip/fail raise
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no `postgres` user to run the server")
    cluster = Cluster(bindir)
    try:
        cluster.start()
    except Exception as err:
        cluster.stop()
        unavailable(f"the throwaway cluster did not start ({err})")
    try:
        yield cluster
    finally:
        cluster.stop()
