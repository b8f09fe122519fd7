"""Slack's half of "who may change settings or stop someone else's run": workspace admins and
owners. The operator's own list (`HeavyConfig.admins`) is added with `settings.ConfigAdmins`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.settings import Scope

from ._slackerr import api_error

log = logging.getLogger("heavy.slack")

_TTL_S = 300.0  # a demoted admin loses rights within five minutes


class SlackAdmins:
    """`users.info` is_admin / is_owner / is_primary_owner, cached briefly per user."""

    def __init__(self, client: AsyncWebClient, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._cache: dict[str, tuple[float, bool]] = {}

    async def can_edit(self, user: str, scope: Scope) -> bool:
        """An `AdminPolicy`: admins and owners may change both channel and workspace settings."""
        return await self.is_admin(scope.workspace, user)

    async def is_admin(self, workspace: str, user: str) -> bool:
        key = f"{workspace}:{user}"
        hit = self._cache.get(key)
        if hit is not None and self._clock() - hit[0] < _TTL_S:
            return hit[1]
        try:
            info = (await self._client.users_info(user=user)).get("user") or {}
        except SlackApiError as err:
            log.warning("users.info failed for %s: %s", user, api_error(err))
            return False  # unknown means no: settings stay safe when Slack is unreachable
        allowed = bool(info.get("is_admin") or info.get("is_owner")
                       or info.get("is_primary_owner"))
        self._cache[key] = (self._clock(), allowed)
        return allowed
