"""Options and helpers shared by the sub-commands. Imports nothing heavy: `heavy --help` and
`heavy --version` load this module and no other."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import HeavyConfig

# Each sub-command's one line in `heavy --help`.
COMMANDS = {
    "ask": "ask one question from the terminal",
    "serve": "run the service: HTTP API, Slack, Discord and the job runner",
    "worker": "run queued jobs (PostgreSQL deployments; no chat front ends)",
    "config": "per-workspace and per-channel settings",
    "db": "database migrations",
    "eval": "score 1 agent vs N agents (vs rounds=2) on a question set",
    "mcp": "serve heavy to an MCP client over stdio (Claude, Cursor, ...)",
}


def common_parent() -> argparse.ArgumentParser:
    """`--config` and `--verbose`, accepted after any sub-command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="config file (default: $HEAVY_CONFIG, else ./config.yaml)")
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging")
    return parent


def load_or_exit(args: argparse.Namespace) -> HeavyConfig:
    """The validated config, or a clear message and exit code 2."""
    from .. import ConfigError, load_config

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as err:
        print(f"heavy: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    hide_secrets(config, os.environ)
    return config


def hide_secrets(config: HeavyConfig, env: Mapping[str, str]) -> None:
    """Redact, from every log line, the well-known secret variables and each provider's and
    search back-end's key (`api_key_env` may name any variable)."""
    from ..observability import add_env_secrets

    add_env_secrets(env)
    add_env_secrets(env, [p.api_key_env for p in config.providers.values() if p.api_key_env])
    add_env_secrets(env, [e.api_key_env for e in config.search.entries() if e.api_key_env])
