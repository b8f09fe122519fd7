"""Who may change settings. Adapters implement `AdminPolicy` with the platform's own rules.

Slack: workspace admins and owners, plus the ids in `HeavyConfig.admins`.
Discord: Manage Channels for a channel, Manage Server for the server default, plus the ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from ..core import HeavyConfig
from ._errors import SettingsForbidden
from ._types import Scope


@runtime_checkable
class AdminPolicy(Protocol):
    async def can_edit(self, user: str, scope: Scope) -> bool:
        """Whether platform user id `user` may change the settings of `scope`."""
        ...


class ConfigAdmins:
    """The operator's list: a plain id (`U123`) or one tied to a platform (`slack:U123`)."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = frozenset(ids)

    @classmethod
    def from_config(cls, config: HeavyConfig) -> ConfigAdmins:
        return cls(config.admins)

    async def can_edit(self, user: str, scope: Scope) -> bool:
        return user in self.ids or f"{scope.platform}:{user}" in self.ids


class AnyOf:
    """Allowed when any of the policies allows (e.g. platform admins or the config list)."""

    def __init__(self, *policies: AdminPolicy) -> None:
        self.policies = policies

    async def can_edit(self, user: str, scope: Scope) -> bool:
        for policy in self.policies:
            if await policy.can_edit(user, scope):
                return True
        return False


async def ensure_can_edit(policy: AdminPolicy, user: str, scope: Scope) -> None:
    """Raise `SettingsForbidden` (with a sentence for chat) unless `user` may edit `scope`."""
    if not await policy.can_edit(user, scope):
        what = "this server's or workspace's defaults" if scope.is_workspace else "this channel"
        raise SettingsForbidden(f"You are not allowed to change the settings of {what}.")
