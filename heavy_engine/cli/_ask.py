"""`heavy ask`: one question from the terminal, with a live per-agent view.

The view is up before the engine is imported (the engine, aiohttp and the tools are most of
the start-up): the config is read and the question checked first, so a usage error or a
warning is printed before any frame, then the first frame shows while the rest loads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ._common import COMMANDS, load_or_exit

if TYPE_CHECKING:
    from .. import HeavyConfig, RunResult
    from ._render import LiveView

CHAT_CREDENTIALS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN")
EXIT_CODES = """exit codes:
  0    the answer was printed
  1    the run failed (every agent failed, timed out, or the provider refused)
  2    bad usage or configuration (the message names the option or key)
  130  interrupted (Ctrl-C)"""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    from .. import MAX_AGENTS

    p = sub.add_parser("ask", parents=[parent], help=COMMANDS["ask"],
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--agents", type=_agents, help=f"number of agents (1-{MAX_AGENTS}), or auto")
    p.add_argument("--rounds", type=int, choices=(1, 2),
                   help="2: the agents compare notes once before the synthesis")
    p.add_argument("--model", help="model for agents and orchestrator")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--scope", metavar="PLATFORM:WORKSPACE[:CHANNEL]",
                   help="use the settings stored for that channel, e.g. slack:T0123:C0456")
    p.set_defaults(handler=run)


def _agents(text: str) -> int | str:
    """`--agents`: a number, or `auto` (the decomposition picks 1..max_agents)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if args.agents is not None:
        flags["agents"] = args.agents
    if getattr(args, "rounds", None) is not None:
        flags["rounds"] = args.rounds
    if args.model:
        flags["model"] = args.model
        flags["orchestrator_model"] = None
    return flags


async def _stored_settings(config: HeavyConfig, scope: str, flags: dict[str, Any]) -> HeavyConfig:
    """The channel's effective settings from the database (migrated first when SQLite)."""
    from .. import ConfigError
    from .. import db as heavy_db
    from ..settings import SettingsStore

    platform, _, rest = scope.partition(":")
    workspace, _, channel = rest.partition(":")
    if not platform or not workspace:
        raise ConfigError(f"--scope: expected PLATFORM:WORKSPACE[:CHANNEL], got {scope!r}")
    db = await heavy_db.Database.open()
    try:
        store = SettingsStore(db, config)
        resolved = await store.resolve(platform, workspace, channel or None, flags)
    finally:
        await db.close()
    return resolved.config


def prepare(args: argparse.Namespace, config: HeavyConfig) -> tuple[HeavyConfig, str | None]:
    """Apply stored settings and flags; fall back to the simulated model when no key is set."""
    from .. import simulated_fallback, use_simulated

    flags = _flags(args)
    if args.scope:
        config = asyncio.run(_stored_settings(config, args.scope, flags))
    elif flags:
        config = config.with_overrides(flags)
    warning = None
    missing = simulated_fallback(config, os.environ)
    if missing and not any(os.environ.get(k) for k in CHAT_CREDENTIALS):
        config = use_simulated(config)
        warning = (f"{missing}: answering with the offline simulated model. "
                   "Set the key (or HEAVY_LLM_BASE_URL) for real answers.")
    return config, warning


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:  # at any moment, start-up included: no traceback
        return 130


def _run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from .. import ConfigError, RequestRejected, validate_question

    config = load_or_exit(args)
    try:
        question = validate_question(" ".join(args.question), config)
        config, warning = prepare(args, config)
    except (ConfigError, RequestRejected) as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, ImportError, OSError) as err:
        print(f"heavy: the settings database could not be read: {err}", file=sys.stderr)
        return 2
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        if args.json:
            result = asyncio.run(_ask(config, question, None))
        else:
            from ._render import LiveView

            view = LiveView("")
            with view.showing():  # the first frame, while the engine loads
                result = asyncio.run(_ask(config, question, view))
    except RequestRejected as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_json_result(result), ensure_ascii=False))
    return 0 if result.status == "ok" else 1  # the view has said why


async def _ask(config: HeavyConfig, question: str, view: LiveView | None) -> RunResult:
    from .. import Engine, HeavyRequest

    async with Engine(config) as engine:
        run = engine.start(HeavyRequest(question, config))
        if view is None:
            return await run
        view.run_id = run.id
        await view.consume(run.stream())
        return await run


def _json_result(result: RunResult) -> dict[str, Any]:
    data = result.as_dict()
    return {
        "answer": data["answer"],
        "questions": data["questions"],
        # Each agent's own finding, so a user can see (and judge) what every agent found.
        "agents": [
            {**{k: a[k] for k in ("question", "model", "status", "iterations", "elapsed_s",
                                  "error")}, "answer": agent.answer}
            for a, agent in zip(data["agents"], result.agents, strict=True)
        ],
        "llm_calls": data["llm_calls"],
        "elapsed_s": data["elapsed_s"],
        "usage": data["usage"],
        "status": data["status"],
        "error": data["error"],
        "notes": data["notes"],
        "sources": data["sources"],
        "simulated": data["simulated"],
    }
