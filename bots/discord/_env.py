"""Discord credentials, endpoints and sharding from the environment (never from config.yaml)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DiscordOptions:
    """From the environment: `DISCORD_*` variables (the token never leaves this object)."""

    token: str = field(repr=False)  # never in a log line or a traceback
    api_url: str | None = None  # DISCORD_API_URL: REST base, e.g. a proxy or a test fake
    gateway_url: str | None = None  # DISCORD_GATEWAY_URL: gateway websocket
    dev_guild: int | None = None  # DISCORD_GUILD_ID: also sync commands there, instantly
    sharded: bool = False  # DISCORD_SHARDED=1: AutoShardedClient, for large installs
    edit_interval: float = 1.2  # DISCORD_EDIT_INTERVAL: seconds between edits per channel
    # DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS ("0,1" or "0-3"): this replica's shards of all
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordOptions | None:
        token = (env.get("DISCORD_TOKEN") or "").strip()
        if not token:
            return None
        guild = (env.get("DISCORD_GUILD_ID") or "").strip()
        raw_interval = (env.get("DISCORD_EDIT_INTERVAL") or "1.2").strip()
        try:
            interval = float(raw_interval)
        except ValueError:
            interval = math.nan
        if not 0 < interval < math.inf:  # also refuses nan
            raise ValueError(f"DISCORD_EDIT_INTERVAL must be a number of seconds above 0 "
                             f"(got {raw_interval!r})")
        count, ids = _shards(env)
        return cls(
            token=token,
            api_url=(env.get("DISCORD_API_URL") or "").rstrip("/") or None,
            gateway_url=env.get("DISCORD_GATEWAY_URL") or None,
            dev_guild=int(guild) if guild.isdigit() else None,
            sharded=(env.get("DISCORD_SHARDED") or "").lower() in ("1", "true", "yes")
            or count is not None,
            edit_interval=interval,
            shard_count=count,
            shard_ids=ids,
        )


def _shards(env: Mapping[str, str]) -> tuple[int | None, tuple[int, ...] | None]:
    """DISCORD_SHARD_COUNT and DISCORD_SHARD_IDS, checked: ids need the count, each below it."""
    raw_count = (env.get("DISCORD_SHARD_COUNT") or "").strip()
    raw_ids = (env.get("DISCORD_SHARD_IDS") or "").replace(" ", "")
    if not raw_count:
        if raw_ids:
            raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total number of "
                             "shards across every replica)")
        return None, None
    if not raw_count.isdigit() or not 1 <= int(raw_count) <= 10_000:
        raise ValueError(f"DISCORD_SHARD_COUNT must be a whole number from 1 to 10000 "
                         f"(got {raw_count!r})")
    count = int(raw_count)
    if not raw_ids:
        return count, None  # every shard in this process
    ids: list[int] = []
    for part in raw_ids.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"DISCORD_SHARD_IDS must be shard numbers like 0,1 or 0-3 "
                             f"(got {raw_ids!r})")
        ids += range(int(low), int(high or low) + 1)
    if not ids or max(ids) >= count or len(set(ids)) != len(ids):
        raise ValueError(f"DISCORD_SHARD_IDS must name distinct shards below "
                         f"DISCORD_SHARD_COUNT={count} (got {raw_ids!r})")
    return count, tuple(ids)
