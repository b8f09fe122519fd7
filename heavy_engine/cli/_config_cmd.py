"""`heavy config set|unset|reset|show|history`: channel settings, from the operator's shell."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from .. import ConfigError, HeavyConfig
from .. import db as heavy_db
from ..settings import KEY_HELP, Scope, SettingsConflict, SettingsStore, parse_assignments
from ._common import COMMANDS, load_or_exit


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[parent], help=COMMANDS["config"],
                       description=f"Keys: {KEY_HELP}. Agents count from 1 (agent.2.model).")
    actions = p.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    scope = _scope_options()
    s = actions.add_parser("set", parents=[parent, scope], help="set key=value ...")
    s.add_argument("assignments", nargs="+", metavar="key=value",
                   help="e.g. model=openai/gpt-4o agents=3 tools=calculate,web_search")
    s.add_argument("--expect-version", type=int, metavar="N",
                   help="refuse if the scope is no longer at version N")
    u = actions.add_parser("unset", parents=[parent, scope], help="unset key ... (inherit again)")
    u.add_argument("keys", nargs="+", metavar="key")
    u.add_argument("--expect-version", type=int, metavar="N")
    r = actions.add_parser("reset", parents=[parent, scope], help="unset every key of the scope")
    r.add_argument("--expect-version", type=int, metavar="N")
    show = actions.add_parser("show", parents=[parent, scope], help="effective settings")
    show.add_argument("--json", action="store_true")
    hist = actions.add_parser("history", parents=[parent, scope], help="changes, newest first")
    hist.add_argument("--limit", type=int, default=50)
    hist.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def _scope_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--platform", required=True, help="slack, discord, or a plugin's name")
    parent.add_argument("--workspace", required=True, help="Slack team id / Discord guild id")
    parent.add_argument("--channel", default="", help="channel id (omit: the workspace default)")
    parent.add_argument("--database-url", metavar="URL",
                        help=f"SQLAlchemy URL (default: ${heavy_db.URL_ENV})")
    return parent


def actor() -> str:
    """Who the audit log names for writes from this shell."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    try:
        scope = Scope(args.platform, args.workspace, args.channel)
        action = _ACTIONS[args.config_action]
        return asyncio.run(_with_store(args, config, lambda store: action(store, scope, args)))
    except (ConfigError, ValueError) as err:  # refused values name their key
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    except SettingsConflict as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 1
    except ImportError as err:  # e.g. postgresql+asyncpg without asyncpg installed
        print(f"heavy: database: the driver {err.name!r} is not installed", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as err:
        print(f"heavy: database: {err}", file=sys.stderr)
        return 1


async def _with_store(
    args: argparse.Namespace, config: HeavyConfig,
    action: Callable[[SettingsStore], Awaitable[int]],
) -> int:
    url = heavy_db.database_url(args.database_url)
    db = await heavy_db.Database.open(url)
    try:
        problem = await db.outdated()
        if problem is not None:
            print(f"heavy: {problem}", file=sys.stderr)
            return 2
        return await action(SettingsStore(db, config))
    finally:
        await db.close()


async def _set(store: SettingsStore, scope: Scope, args: argparse.Namespace) -> int:
    saved = await store.set(scope, parse_assignments(args.assignments), actor=actor(),
                            expected_version=args.expect_version)
    print(f"{scope}: version {saved.version}")
    return 0


async def _unset(store: SettingsStore, scope: Scope, args: argparse.Namespace) -> int:
    saved = await store.unset(scope, args.keys, actor=actor(),
                              expected_version=args.expect_version)
    print(f"{scope}: version {saved.version}")
    return 0


async def _reset(store: SettingsStore, scope: Scope, args: argparse.Namespace) -> int:
    saved = await store.reset(scope, actor=actor(), expected_version=args.expect_version)
    print(f"{scope}: version {saved.version}")
    return 0


async def _show(store: SettingsStore, scope: Scope, args: argparse.Namespace) -> int:
    resolved = await store.resolve(scope.platform, scope.workspace, scope.channel or None)
    if args.json:
        print(json.dumps({"effective": resolved.values, "source": resolved.sources},
                         ensure_ascii=False))
        return 0
    stored = await store.get(scope)
    print(f"{scope}: version {stored.version}"
          + (f", last changed by {stored.updated_by}" if stored.updated_by else ""))
    width = max(map(len, resolved.values))
    for key, value in resolved.values.items():
        print(f"  {key:<{width}}  {_text(value)}  ({resolved.sources[key]})")
    return 0


async def _history(store: SettingsStore, scope: Scope, args: argparse.Namespace) -> int:
    entries = await store.history(scope, limit=args.limit)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], ensure_ascii=False))
        return 0
    for entry in entries:
        data = entry.as_dict()
        print(f"{data['at']}  v{entry.version}  {entry.by}  {entry.action}")
        for key in sorted(entry.before.keys() | entry.after.keys()):
            old, new = entry.before.get(key), entry.after.get(key)
            if old != new:
                print(f"    {key}: {_text(old, 'unset')} -> {_text(new, 'unset')}")
    return 0


def _text(value: Any, none: str = "-") -> str:
    if value is None:
        return none
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


_ACTIONS: dict[str, Callable[[SettingsStore, Scope, argparse.Namespace], Awaitable[int]]] = {
    "set": _set, "unset": _unset, "reset": _reset, "show": _show, "history": _history,
}
