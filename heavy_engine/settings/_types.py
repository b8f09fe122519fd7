"""Value types of the settings store: scopes, stored settings, audit entries, resolutions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from ..core import HeavyConfig
from ._keys import effective_values

# Any adapter's name (`slack`, `discord`, a plugin's): it fits the database's 16 characters.
PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,15}")
Source = Literal["default", "workspace", "channel", "request"]
Action = Literal["set", "unset", "reset"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where settings apply: a whole workspace (`channel == ""`) or one channel in it.

    `workspace` is the Slack team id or the Discord guild id. A thread has no scope of its
    own: it inherits its channel (for Discord threads, pass the parent channel's id).
    """

    platform: str
    workspace: str
    channel: str = ""

    def __post_init__(self) -> None:
        if not PLATFORM_NAME.fullmatch(self.platform):
            raise ValueError("platform must be 1-16 lower-case letters, digits, _ or -, "
                             f"starting with a letter, not {self.platform[:40]!r}")
        if not self.workspace or len(self.workspace) > 64 or len(self.channel) > 64:
            raise ValueError("workspace must be 1-64 characters and channel at most 64")

    @property
    def is_workspace(self) -> bool:
        return not self.channel

    def __str__(self) -> str:
        where = f"#{self.channel}" if self.channel else "(workspace default)"
        return f"{self.platform}/{self.workspace} {where}"


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """The overrides stored for one scope; `version == 0` means nothing was ever stored."""

    scope: Scope
    values: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: the scope's overrides before and after it."""

    scope: Scope
    at: datetime
    by: str
    action: str
    version: int
    before: dict[str, Any]
    after: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "by": self.by,
            "action": self.action,
            "version": self.version,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Resolved:
    """The effective configuration, and which layer each overridable key came from.

    `values` and `sources` are derived when first read: a job needs only `config`, and
    listing every value was most of the cost of accepting a question."""

    config: HeavyConfig
    origin: dict[str, Source]  # the keys some layer set, and which

    @cached_property
    def values(self) -> dict[str, Any]:
        return effective_values(self.config)

    @cached_property
    def sources(self) -> dict[str, Source]:
        return {key: self.origin.get(key, "default") for key in self.values}
