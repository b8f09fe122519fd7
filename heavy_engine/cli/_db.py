"""`heavy db upgrade|downgrade|current`: the operator's schema migrations."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ._common import COMMANDS

try:
    from psycopg import Error as PsycopgError
except ImportError:  # the embedded default (SQLite) needs no psycopg
    PsycopgError = OSError  # type: ignore[misc,assignment]


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("db", parents=[parent], help=COMMANDS["db"])
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", parents=[parent, _url_option()],
                            help="migrate to the newest schema (or --revision)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.add_argument("--sql", action="store_true",
                    help="print the SQL for an empty database instead of running it")
    down = actions.add_parser("downgrade", parents=[parent, _url_option()],
                              help="migrate back to REVISION ('base' removes every table)")
    down.add_argument("revision")
    actions.add_parser("current", parents=[parent, _url_option()],
                       help="print the database's revision")
    p.set_defaults(handler=run)


def _url_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--database-url", metavar="URL",
                        help=f"SQLAlchemy URL (default: ${db.URL_ENV}, else {db.DEFAULT_URL})")
    return parent


def run(args: argparse.Namespace) -> int:
    url = db.database_url(args.database_url)
    try:
        if args.db_action == "upgrade" and args.sql:
            print(db.upgrade_sql(url, args.revision), end="")
            return 0
        revision = asyncio.run(_migrate(url, args))
    except ImportError as err:  # e.g. PostgreSQL without psycopg installed
        print(f"heavy: database: the driver {err.name!r} is not installed", file=sys.stderr)
        return 2
    except (CommandError, SQLAlchemyError, OSError, PsycopgError) as err:
        print(f"heavy: database: {err}", file=sys.stderr)
        return 1
    head = db.head_revision()
    state = "head" if revision == head else f"head is {head}"
    print(f"{revision or 'empty (no revision)'} ({state})")
    return 0


async def _migrate(url: str, args: argparse.Namespace) -> str | None:
    """Run the action through `Database`, the one migration API; the revision it leaves."""
    async with await db.Database.open(url, migrate=False) as database:
        if args.db_action == "upgrade":
            await database.upgrade(args.revision)
            if db.is_postgres(url):
                if await db.install_queue_schema(url):
                    print("installed the job queue's schema (procrastinate)")
                for name in await db.upgrade_queue_schema(url):
                    print(f"applied the job queue's migration {name}")
        elif args.db_action == "downgrade":
            await database.downgrade(args.revision)
        return await database.current()
