"""Who may ask: one check, made when a job is submitted, before any budget, queue or LLM call.

The rules are the settings `allow_users`, `block_users` and `allow_roles` of the operator
(config.yaml), the workspace and the channel (`HeavyConfig.access`). Each level is a gate:
an asker blocked at any level is refused, and at every level that has an allow list the asker
must be listed or hold a listed role. Ids may be written bare (`U123`) or for one platform
(`slack:U123`).
"""

from __future__ import annotations

from collections.abc import Collection

from ..core import HeavyConfig
from ._contract import Job, JobRejected

BLOCKED = "You can't ask heavy here: an admin has blocked you."
NOT_ALLOWED = "You can't ask heavy here: only people or roles an admin has allowed may ask."


def _listed(ids: Collection[str], user: str, platform: str) -> bool:
    return user in ids or (bool(platform) and f"{platform}:{user}" in ids)


def may_ask(config: HeavyConfig, user: str, roles: Collection[str] = (), *,
            platform: str = "") -> str | None:
    """The refusal sentence for `user` (holding role ids `roles`), or None when they may ask."""
    levels = config.access.levels()
    if any(_listed(rules.block_users, user, platform) for rules in levels):
        return BLOCKED
    for rules in levels:
        if not (rules.allow_users or rules.allow_roles):
            continue
        if _listed(rules.allow_users, user, platform):
            continue
        if any(_listed(rules.allow_roles, role, platform) for role in roles):
            continue
        return NOT_ALLOWED
    return None


def access_refusal(job: Job) -> JobRejected | None:
    """The runner's hook: a `JobRejected` for an asker the job's settings do not allow."""
    spec = job.spec
    text = may_ask(job.config, spec.user, spec.roles, platform=spec.platform)
    return None if text is None else JobRejected(text, "not_allowed")
