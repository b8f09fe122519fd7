"""`heavy mcp`: heavy as an MCP server over stdio, for Claude Desktop, Claude Code or Cursor.

The same configuration and database as `heavy ask` and `heavy serve` (`--config`,
`HEAVY_DATABASE_URL`); every question is a durable job, so `heavy_job` finds it later. stdout
belongs to the protocol: logs go to stderr only. The process ends when the client closes the
pipe; questions still running then are cancelled (nobody is left to read their answers).

On SQLite one process runs the jobs of a database, and a starting runner takes over the jobs
left unfinished there: `heavy mcp` refuses to start on a database holding unfinished jobs of
`heavy serve` (a Slack answer resumed here would never be posted); use the service's `/mcp`.
On PostgreSQL it only enqueues (role `web`): the service's workers run its questions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from .. import ConfigError, Engine, HeavyConfig
from ..observability import configure_logging
from ._ask import prepare
from ._common import COMMANDS, load_or_exit

log = logging.getLogger("heavy.mcp")
SHUTDOWN_GRACE_S = 5.0  # after EOF: jobs get this long to record their cancellation
CHANNEL = "mcp"  # the jobs asked here (platform "api"): what a restart may resume


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("mcp", parents=[parent], help=COMMANDS["mcp"],
                       description="Serve the tools heavy_ask and heavy_job over stdio, with "
                                   "the configuration and database of `heavy ask`. Claude "
                                   "Code: claude mcp add heavy -- \"$PWD/.venv/bin/heavy\" mcp")
    p.set_defaults(handler=run, agents=None, rounds=None, model=None, scope=None)


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    try:
        config, warning = prepare(args, config)
    except ConfigError as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    verbose = getattr(args, "verbose", False)
    # stderr only: stdout carries the protocol.
    configure_logging(os.environ.get("HEAVY_LOG_FORMAT", "text"),
                      logging.DEBUG if verbose else logging.INFO, stream=sys.stderr)
    if not verbose:  # the SDK logs every request at INFO
        logging.getLogger("mcp").setLevel(logging.WARNING)
    if warning:
        log.warning("%s", warning)
    try:
        return asyncio.run(serve_stdio(config))
    except ConfigError as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as err:
        print(f"heavy: the database could not be opened: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def serve_stdio(config: HeavyConfig) -> int:
    """Serve MCP on stdin/stdout until the client closes them."""
    from ..db import Database, is_postgres
    from ..jobs import JobSpec, JobStore
    from ..observability import Metrics
    from ..service import build_mcp_server, build_runner, submit_job
    from ..settings import SettingsStore

    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = await Database.open()
    try:
        if (problem := await db.outdated()) is not None:
            raise ConfigError(problem)
        shared = is_postgres(db.url)
        if not shared and (problem := _not_ours(await JobStore(db, config).unfinished())):
            raise ConfigError(problem)
        async with Engine(config, env=os.environ) as engine:
            settings = SettingsStore(db, config)
            runner = build_runner("web" if shared else "all", db, engine, settings.resolve_job,
                                  config, Metrics(), os.environ)

            async def submit(spec: JobSpec, caller: object) -> Any:
                return await submit_job(runner, spec)  # stdio: the local user, no token

            server = build_mcp_server(runner, submit, channel=CHANNEL)
            await runner.start()
            log.info("heavy mcp ready on stdio (database %s)", db.url)
            try:
                await server.run_stdio_async()
            finally:
                await runner.shutdown(SHUTDOWN_GRACE_S)
    finally:
        await db.close()
    return 0


def _not_ours(unfinished: list[Any]) -> str | None:
    """Why this SQLite database is not ours to run: unfinished jobs of `heavy serve`."""
    theirs = [j for j in unfinished if (j.spec.platform, j.spec.channel) != ("api", CHANNEL)]
    if not theirs:
        return None
    where = ", ".join(sorted({j.spec.platform for j in theirs}))
    return (f"this database holds {len(theirs)} unfinished job(s) of `heavy serve` ({where}); "
            "heavy mcp would take them over without their front ends. Point your MCP client at "
            "the running service's /mcp, or start `heavy serve` to finish them, or give heavy "
            "mcp a database of its own (HEAVY_DATABASE_URL).")
