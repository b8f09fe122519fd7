"""Which runner a process uses: the database URL and the role decide.

SQLite (the embedded default): the local backend (`DurableRunner`), role `all` only.
PostgreSQL: the procrastinate-based distributed backend (`DistributedRunner`); role `web` only
enqueues, `worker` only runs jobs, `all` (the default) does both. Either way callers see a
`JobRunner`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ..core import ConfigError, Engine, HeavyConfig
from ..db import Database, is_postgres
from ..jobs import ConfigResolver, DurableRunner, JobRunner, JobStore
from ..observability import Metrics

Role = Literal["all", "web", "worker"]
ROLES: tuple[Role, ...] = ("all", "web", "worker")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds (got {raw!r})") from None
    if not 0 < value < 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds (got {raw})")
    return value


def build_runner(
    role: Role, db: Database, engine: Engine, resolve: ConfigResolver, config: HeavyConfig,
    metrics: Metrics, env: Mapping[str, str],
) -> JobRunner:
    store = JobStore(db, config)
    url = db.engine.url.render_as_string(hide_password=False)
    if not is_postgres(url):
        if role != "all":
            raise ConfigError(f"role {role!r} needs PostgreSQL (HEAVY_DATABASE_URL="
                              "postgresql://...); the embedded SQLite runs everything in one "
                              "process")
        return DurableRunner(engine, store, resolve, config, metrics=metrics)
    try:
        from ..jobs import DistributedRunner
    except ImportError as err:
        raise ConfigError(f"PostgreSQL needs the `postgres` extra (pip install "
                          f"'heavy[postgres]'): {err.name} is missing") from None
    heartbeat = _seconds(env, "HEAVY_WORKER_HEARTBEAT", 2.0)
    stalled = _seconds(env, "HEAVY_WORKER_STALLED_AFTER", 10.0)
    if stalled <= heartbeat:
        raise ConfigError("HEAVY_WORKER_STALLED_AFTER must be longer than "
                          "HEAVY_WORKER_HEARTBEAT")
    return DistributedRunner(engine, store, resolve, config, metrics=metrics,
                             work=role != "web", heartbeat_s=heartbeat,
                             stalled_after_s=stalled)
