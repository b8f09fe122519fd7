"""`heavy serve`: the long-running service (HTTP API, Slack, Discord, the durable job runner).

Start order: database (SQLite is migrated), engine, runner, adapters (they register their
deliveries), then recovery of unfinished jobs, then `/healthz` turns ready. SIGTERM/SIGINT:
not ready, intake stops, running jobs get `--grace` seconds (a second signal cuts it short),
adapters and HTTP close.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import math
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url

from .. import ConfigError, Engine, HeavyConfig, simulated_fallback, tune_gc, use_simulated
from ..db import Database
from ..jobs import Services
from ..observability import Metrics, configure_logging
from ..service import (
    READY,
    ROLES,
    AllowedHosts,
    NamedTokens,
    Role,
    build_app,
    build_runner,
    connection_options,
    listen,
    load_adapters,
    load_named_tokens,
)
from . import _loop
from ._ask import CHAT_CREDENTIALS
from ._common import COMMANDS, load_or_exit

log = logging.getLogger("heavy.serve")
DEFAULT_PORT = 3000
DEFAULT_HOST = "127.0.0.1"  # this machine only; containers set HEAVY_HOST=0.0.0.0
DEFAULT_GRACE = 25.0  # below Kubernetes' default 30 s termination grace period


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[parent], help=COMMANDS["serve"])
    p.add_argument("--port", type=int, help=f"port (default: $PORT, else {DEFAULT_PORT})")
    p.add_argument("--host", help="interface (default: $HEAVY_HOST, else 127.0.0.1; "
                                  "0.0.0.0 for every interface)")
    p.add_argument("--grace", type=float,
                   help="seconds running jobs get to finish on SIGTERM "
                        f"(default: $HEAVY_SHUTDOWN_GRACE, else {DEFAULT_GRACE:g})")
    p.add_argument("--role", choices=ROLES,
                   help="all (default): HTTP, chat and jobs; web: HTTP and chat, jobs only "
                        "enqueued; worker: jobs only (web and worker need PostgreSQL)")
    p.set_defaults(handler=run)


def _options(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int, float]:
    try:
        port = args.port if args.port is not None else int(env.get("PORT") or DEFAULT_PORT)
        grace = args.grace if args.grace is not None else float(
            env.get("HEAVY_SHUTDOWN_GRACE") or DEFAULT_GRACE)
    except ValueError as err:
        raise ConfigError(f"PORT and HEAVY_SHUTDOWN_GRACE must be numbers ({err})") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range (0-65535)")
    if not 0 <= grace < math.inf:  # also refuses nan, which compares false to everything
        raise ConfigError(f"the grace period must be a finite number of seconds >= 0 (got {grace})")
    return args.host or env.get("HEAVY_HOST") or DEFAULT_HOST, port, grace


def choose_model(config: HeavyConfig, env: Mapping[str, str]) -> tuple[HeavyConfig, str | None]:
    """The config to serve with and a warning; ConfigError when a chat bot has no model key."""
    missing = simulated_fallback(config, env)
    if missing is None:
        return config, None
    chat = [name for name in CHAT_CREDENTIALS if env.get(name)]
    if chat:
        raise ConfigError(f"{missing}, but {', '.join(chat)} is set: a chat bot needs a real "
                          "model. Set the key (or HEAVY_LLM_BASE_URL).")
    return use_simulated(config), (
        f"{missing}: serving with the offline simulated model. Set the key (or "
        "HEAVY_LLM_BASE_URL) for real answers.")


def run(args: argparse.Namespace) -> int:
    env = os.environ
    config = load_or_exit(args)
    try:
        host, port, grace = _options(args, env)
        config, warning = choose_model(config, env)
        # A bad tokens file stops start-up here: the file, the line and the rule.
        api_tokens = load_named_tokens(env.get("HEAVY_API_TOKENS_FILE"))
    except ConfigError as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    verbose = getattr(args, "verbose", False)
    configure_logging(env.get("HEAVY_LOG_FORMAT", "text"),
                      logging.DEBUG if verbose else logging.INFO)
    if warning:
        log.warning(warning)
    token = env.get("HEAVY_API_TOKEN")
    if token and len(token) < 16:
        log.warning("HEAVY_API_TOKEN is shorter than 16 characters: use a long random token "
                    "(e.g. `openssl rand -hex 32`)")
    try:
        role = getattr(args, "role", None) or env.get("HEAVY_ROLE") or "all"
        if role not in ROLES:
            raise ConfigError(f"HEAVY_ROLE must be one of {', '.join(ROLES)} (got {role!r})")
        return _loop.run(serve(config, host=host, port=port, grace=grace, env=env, role=role,
                               api_tokens=api_tokens),
                         env)
    except ConfigError as err:
        log.error("%s", err)
        return 2


def _api_access(token: str | None, named: NamedTokens | None) -> str:
    """How the API lets callers in, for the start-up line (names, never tokens)."""
    if named is not None:
        return f"{len(named)} named token(s){' and HEAVY_API_TOKEN' if token else ''}"
    return "token required" if token else "loopback only"


def bind_error(host: str, port: int, err: OSError) -> str:
    """One line for a port that cannot be bound, naming the way out."""
    if err.errno == errno.EADDRINUSE:
        return (f"port {port} is already in use on {host}: stop the other server or pick "
                "another port with --port or PORT")
    if err.errno == errno.EACCES:
        return (f"no permission to listen on port {port}: pick a port above 1023 with --port "
                "or PORT")
    return f"cannot listen on {host}:{port} ({err.strerror or err}): check --host/HEAVY_HOST " \
           "and --port/PORT"


def page_address(host: str, addresses: list[Any]) -> str:
    """The web page's address for a person: `localhost` when bound to every interface."""
    port = addresses[0][1] if addresses else 0
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _describe(db: Database) -> str:
    """`sqlite ./data/heavy.db`, or the URL without its password."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    return db.url


async def serve(
    config: HeavyConfig, *, host: str, port: int, grace: float, env: Mapping[str, str],
    role: Role = "all", api_tokens: NamedTokens | None = None,
) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop, 1 when an adapter failed to start.
    `api_tokens`: the named API tokens (`HEAVY_API_TOKENS_FILE`), read by `run`."""
    from ..settings import SettingsStore  # imported here: `heavy --help` needs no database code

    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        # The first signal drains; a second one (Ctrl-C again) stops without waiting.
        if stop.is_set():
            log.warning("second signal: interrupting running jobs now")
            force.set()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    metrics = Metrics()
    allowed = AllowedHosts.from_env(env)  # a typo stops start-up, before the database opens
    if host not in ("127.0.0.1", "::1", "localhost") and not allowed.names:
        log.info("HTTP answers to loopback names and this machine's addresses only; set "
                 "HEAVY_ALLOWED_HOSTS (or HEAVY_PUBLIC_URL) to the name clients use")
    # Alembic's INFO lines ("Context impl SQLiteImpl", ...) are noise here: one line says it all.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = await Database.open()
    try:
        problem = await db.outdated()  # SQLite migrated itself; other backends, the operator
        if problem is not None:
            raise ConfigError(problem)
        log.info("database ready (%s, at head)", _describe(db))
        await db.warm()
        async with Engine(config, env=env) as engine:
            settings = SettingsStore(db, config)
            runner = build_runner(role, db, engine, settings.resolve_job, config, metrics, env)
            services = Services(config, engine, runner, settings, env, metrics)
            # A worker starts the adapters' deliveries only (no routes, no gateway): the jobs
            # it runs were taken by the `web` replicas, and it answers them on their platform.
            adapters = load_adapters(services)
            intake = role != "worker"
            app = build_app(runner, metrics, api_token=env.get("HEAVY_API_TOKEN"),
                            api_tokens=api_tokens,
                            extra_routes=[r for a in adapters if intake for r in a.routes()],
                            allowed_hosts=allowed)
            idle_timeout, max_connections = connection_options(env)
            http = web.AppRunner(app, handle_signals=False, access_log=None,
                                 shutdown_timeout=2.0, keepalive_timeout=idle_timeout)
            await http.setup()
            started: list[Any] = []
            listener: asyncio.Server | None = None
            try:
                listener = await listen(http, host, port, max_connections)
            except OSError as err:
                await http.cleanup()
                raise ConfigError(bind_error(host, port, err)) from None
            try:
                for adapter in adapters:
                    await (adapter.start() if intake else adapter.start_deliveries())
                    started.append(adapter)
                tune_gc()  # start-up is over: see _gc.py
                recovered = await runner.start()
                app[READY].ready = True
                bound = ", ".join(f"http://{a[0]}:{a[1]}"
                                  for a in (sock.getsockname() for sock in listener.sockets))
                log.info("heavy serving on %s (adapters: %s; database: %s; %d unfinished jobs "
                         "resumed; API %s)", bound,
                         ", ".join(a.name for a in adapters) or "none", db.url, recovered,
                         _api_access(env.get("HEAVY_API_TOKEN"), api_tokens))
                log.info("open %s/ in a browser to ask a question and watch the agents",
                         page_address(host, [s.getsockname() for s in listener.sockets]))
                await stop.wait()
                log.info("stopping: no new jobs; running jobs get %g s to finish", grace)
                app[READY].ready = False
                await runner.shutdown(grace, force)
            except Exception:
                log.exception("the service failed")
                await runner.shutdown(0)
                return 1
            finally:
                for adapter in reversed(started):
                    try:
                        await adapter.stop()
                    except Exception:
                        log.exception("adapter %s did not stop cleanly", adapter.name)
                if listener is not None:
                    listener.close()  # no new connections; cleanup closes the open ones
                await http.cleanup()
    finally:
        await db.close()
    log.info("stopped")
    return 0
