"""Channel settings in the database: optimistic-concurrency writes with an audit row each."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..core import PREFIX as MCP_PREFIX
from ..core import HeavyConfig, RequestRejected
from ..db import ChannelSettings, Database, SettingsAudit, utcnow
from ._errors import SettingsConflict, SettingsRefused
from ._keys import normalize_key
from ._resolve import layer
from ._rules import check_values
from ._types import Action, AuditEntry, Resolved, Scope, ScopeSettings

# Blind writers (no expected_version) re-read and retry a lost race, backing off a little.
_RETRIES = 20
_BACKOFF_S = 0.005


class JobLike(Protocol):
    """The fields of `jobs.JobSpec` that resolution needs."""

    platform: str
    workspace: str
    channel: str
    flags: dict[str, Any]


class SettingsStore:
    """Per-workspace and per-channel overrides on top of the operator's `HeavyConfig`.

    Every write is checked against the operator's rules before it touches the database, and
    lands together with its audit row or not at all.
    """

    def __init__(
        self, db: Database, config: HeavyConfig, *, known_tools: Collection[str] | None = None
    ) -> None:
        self.db = db
        self.config = config
        if known_tools is None:
            from ..plugins import registry

            known_tools = registry().names("tools")  # what is installed; imports none of them
        self.known_tools = frozenset(known_tools)

    @property
    def choosable_tools(self) -> list[str]:
        """The tools a channel may pick (for pickers in chat): allowed and installed."""
        return [t for t in self.config.choosable_tools
                if t in self.known_tools or t.startswith(MCP_PREFIX)]

    async def resolve(
        self, platform: str, workspace: str, channel: str | None = None,
        flags: Mapping[str, Any] | None = None,
    ) -> Resolved:
        """The effective settings for a request there (a thread passes its channel)."""
        stored: dict[str, dict[str, Any]] = {}
        if workspace:
            rows = await self._rows(platform, workspace, ("", channel or ""))
            stored = {row.channel: row.overrides for row in rows}
        return layer(
            self.config, stored.get("", {}), stored.get(channel, {}) if channel else {},
            flags or {}, known_tools=self.known_tools,
            where=f"{platform}/{workspace}/{channel or ''}",
        )

    async def resolve_job(self, spec: JobLike) -> HeavyConfig:
        """A `jobs.ConfigResolver`: bad flags become `RequestRejected` for the user."""
        try:
            resolved = await self.resolve(spec.platform, spec.workspace, spec.channel, spec.flags)
        except SettingsRefused as err:
            raise RequestRejected(str(err)) from err
        return resolved.config

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Checked, typed values; raises `SettingsRefused` naming the first bad key."""
        return check_values(self.config, values, self.known_tools)

    async def get(self, scope: Scope) -> ScopeSettings:
        rows = await self._rows(scope.platform, scope.workspace, (scope.channel,))
        return _snapshot(scope, rows[0] if rows else None)

    async def set(
        self, scope: Scope, values: Mapping[str, Any], *, actor: str,
        expected_version: int | None = None,
    ) -> ScopeSettings:
        """Store `values` (merged over what is there); refused values change nothing."""
        checked = self.validate(values)
        return await self._write(scope, "set", lambda cur: {**cur, **checked},
                                 actor=actor, expected_version=expected_version)

    async def unset(
        self, scope: Scope, keys: Iterable[str], *, actor: str,
        expected_version: int | None = None,
    ) -> ScopeSettings:
        """Drop `keys` so they inherit again; unknown keys are refused."""
        drop = {normalize_key(key) for key in keys}
        return await self._write(scope, "unset",
                                 lambda cur: {k: v for k, v in cur.items() if k not in drop},
                                 actor=actor, expected_version=expected_version)

    async def update(
        self, scope: Scope, values: Mapping[str, Any], unset: Iterable[str], *, actor: str,
        expected_version: int | None = None,
    ) -> ScopeSettings:
        """Set `values` and drop `unset` in one write: one version, one audit row, all or none."""
        checked = self.validate(values)
        drop = {normalize_key(key) for key in unset}
        return await self._write(
            scope, "set" if checked else "unset",
            lambda cur: {**{k: v for k, v in cur.items() if k not in drop}, **checked},
            actor=actor, expected_version=expected_version)

    async def reset(
        self, scope: Scope, *, actor: str, expected_version: int | None = None
    ) -> ScopeSettings:
        """Drop every override of `scope`."""
        return await self._write(scope, "reset", lambda cur: {},
                                 actor=actor, expected_version=expected_version)

    async def history(self, scope: Scope, limit: int = 50) -> list[AuditEntry]:
        """The scope's changes, newest first."""
        query = (
            select(SettingsAudit)
            .where(SettingsAudit.platform == scope.platform,
                   SettingsAudit.workspace == scope.workspace,
                   SettingsAudit.channel == scope.channel)
            .order_by(SettingsAudit.id.desc())
            .limit(limit)
        )
        async with self.db.session() as session:
            rows = (await session.scalars(query)).all()
        return [AuditEntry(scope, r.at, r.actor, r.action, r.version, r.before, r.after)
                for r in rows]


    async def _rows(
        self, platform: str, workspace: str, channels: Iterable[str]
    ) -> list[ChannelSettings]:
        query = select(ChannelSettings).where(
            ChannelSettings.platform == platform, ChannelSettings.workspace == workspace,
            ChannelSettings.channel.in_(set(channels)),
        )
        async with self.db.session() as session:
            return list((await session.scalars(query)).all())

    async def _write(
        self, scope: Scope, action: Action, change: Callable[[dict[str, Any]], dict[str, Any]],
        *, actor: str, expected_version: int | None,
    ) -> ScopeSettings:
        for attempt in range(_RETRIES):
            if attempt:
                await asyncio.sleep(random.uniform(0, _BACKOFF_S * attempt))
            current = await self.get(scope)
            if expected_version is not None and expected_version != current.version:
                raise SettingsConflict(scope, expected_version, current.version)
            after = change(dict(current.values))
            if after == current.values:
                return current  # nothing changes, so nothing to audit
            saved = await self._save(scope, action, current, after, actor)
            if saved is not None:
                return saved
            if expected_version is not None:  # someone else wrote first
                raise SettingsConflict(scope, expected_version, (await self.get(scope)).version)
        raise SettingsConflict(scope, current.version, (await self.get(scope)).version)

    async def _save(
        self, scope: Scope, action: Action, current: ScopeSettings, after: dict[str, Any],
        actor: str,
    ) -> ScopeSettings | None:
        """Write if the row is still at `current.version`; None when another writer won."""
        now, version = utcnow(), current.version + 1
        key = (ChannelSettings.platform == scope.platform,
               ChannelSettings.workspace == scope.workspace,
               ChannelSettings.channel == scope.channel)
        try:
            async with self.db.session() as session, session.begin():
                if current.version == 0:
                    session.add(ChannelSettings(
                        platform=scope.platform, workspace=scope.workspace,
                        channel=scope.channel, overrides=after, version=version,
                        updated_by=actor, updated_at=now))
                    await session.flush()  # the primary key refuses a second first write
                else:
                    result = await session.execute(
                        update(ChannelSettings)
                        .where(*key, ChannelSettings.version == current.version)
                        .values(overrides=after, version=version, updated_by=actor,
                                updated_at=now)
                        .execution_options(synchronize_session=False))
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        raise _Lost
                session.add(SettingsAudit(
                    platform=scope.platform, workspace=scope.workspace, channel=scope.channel,
                    action=action, actor=actor, at=now, version=version,
                    before=current.values, after=after))
        except (_Lost, IntegrityError):
            return None
        return ScopeSettings(scope, after, version, actor, now)


class _Lost(Exception):
    """Rolls back the write transaction when the version check matched no row."""


def _snapshot(scope: Scope, row: ChannelSettings | None) -> ScopeSettings:
    if row is None:
        return ScopeSettings(scope)
    return ScopeSettings(scope, dict(row.overrides), row.version, row.updated_by, row.updated_at)
