"""Admin rights: the config list, combining policies, and the refusal adapters show."""

from __future__ import annotations

import pytest

from heavy_engine import HeavyConfig
from heavy_engine.settings import (
    AdminPolicy,
    AnyOf,
    ConfigAdmins,
    Scope,
    SettingsForbidden,
    ensure_can_edit,
)

SLACK = Scope("slack", "T1", "C1")
DISCORD = Scope("discord", "G1")


@pytest.mark.parametrize(("user", "scope", "allowed"), [
    ("U1", SLACK, True),  # a plain id counts on every platform
    ("U1", DISCORD, True),  # ... including Discord
    ("U2", SLACK, True),  # "slack:U2" counts on Slack
    ("U2", DISCORD, False),  # ... but not on Discord
    ("U3", SLACK, False),  # not listed
])
async def test_config_admins(user: str, scope: Scope, allowed: bool) -> None:
    policy = ConfigAdmins.from_config(HeavyConfig(admins=["U1", "slack:U2"]))
    assert isinstance(policy, AdminPolicy)
    assert await policy.can_edit(user, scope) is allowed


class ChannelManagers:
    """What a Discord adapter does: Manage Channels for a channel, Manage Server for the rest."""

    async def can_edit(self, user: str, scope: Scope) -> bool:
        return user == "mod" and not scope.is_workspace


async def test_any_of_and_ensure_can_edit() -> None:
    policy = AnyOf(ChannelManagers(), ConfigAdmins(["owner"]))
    await ensure_can_edit(policy, "mod", Scope("discord", "G1", "C9"))
    await ensure_can_edit(policy, "owner", DISCORD)
    with pytest.raises(SettingsForbidden, match="defaults") as info:
        await ensure_can_edit(policy, "mod", DISCORD)
    assert "not allowed" in info.value.user_message
    with pytest.raises(SettingsForbidden, match="this channel"):
        await ensure_can_edit(policy, "guest", SLACK)
