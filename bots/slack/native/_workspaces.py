"""Several workspaces: each one is answered with its own bot token.

`WorkspaceClient` is the adapter's one Web API client. Without a workspace bound it sends its
own token (SLACK_BOT_TOKEN, single-workspace mode, unchanged). A request from Slack binds the
token Bolt authorised for it (`bind_request_token`, a global middleware), and a job's delivery
binds the token of the job's workspace (`WorkspaceDelivery`); tasks started from there inherit
the binding (a `ContextVar`), so every call made on behalf of a workspace carries its token.
A call that passes `token=` explicitly (the OAuth exchange's `auth.test`) keeps it, and
client credentials (`oauth.v2.access`) go as a Basic Authorization header.

Events from a workspace heavy is not installed in are acknowledged and dropped with one log
line (`ignore_unknown_workspaces`, before Bolt's own authorisation, which would log an error
and answer the user with an apology).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from heavy_engine import Done, Run
from heavy_engine.jobs import Delivery, Job

from .._reply import SlackReply
from ._installs import DbInstallationStore

log = logging.getLogger("heavy.slack")

_TOKEN: ContextVar[str | None] = ContextVar("heavy_slack_token", default=None)
# Events that carry no installed workspace to look up, or concern one going away.
_PASS_THROUGH = frozenset({"app_uninstalled", "tokens_revoked", "team_access_revoked"})


class WorkspaceClient(AsyncWebClient):
    """An `AsyncWebClient` whose calls use the token bound for the current workspace."""

    async def api_call(self, api_method: str, *, http_verb: str = "POST",
                       files: dict[str, Any] | None = None, data: Any = None,
                       params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                       headers: dict[str, Any] | None = None,
                       auth: dict[str, Any] | None = None) -> AsyncSlackResponse:
        if isinstance(auth, dict):
            # oauth.v2.access: Basic auth as a header (slack_sdk's path uses aiohttp's
            # BasicAuth, deprecated since aiohttp 3.14).
            pair = f"{auth['client_id']}:{auth['client_secret']}".encode()
            headers = {**(headers or {}),
                       "Authorization": "Basic " + base64.b64encode(pair).decode()}
            auth = None
        elif (token := _TOKEN.get()) and not any(
                isinstance(a, dict) and a.get("token") for a in (params, json, data)):
            headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return await super().api_call(api_method, http_verb=http_verb, files=files, data=data,
                                      params=params, json=json, headers=headers, auth=auth)


async def bind_request_token(context: AsyncBoltContext,
                             next: Callable[[], Awaitable[Any]]) -> Any:
    """Global middleware: calls made while handling this request use its workspace's token.

    Bolt runs middleware one after the other and the listeners after them all, so the value
    is set, not reset: every request that reaches the listeners sets its own, and the task
    that dispatches it (and the tasks it starts) keeps it.
    """
    _TOKEN.set(context.bot_token or context.token or None)
    return await next()


def ignore_unknown_workspaces(store: DbInstallationStore
                              ) -> Callable[..., Awaitable[BoltResponse | None]]:
    """A `before_authorize` middleware: requests from a workspace without an installation are
    acknowledged (200, empty) and logged once, instead of reaching Bolt's authorisation."""

    async def check(req: AsyncBoltRequest, context: AsyncBoltContext,
                    next: Callable[[], Awaitable[Any]]) -> Any:
        body = req.body or {}
        kind = (body.get("event") or {}).get("type")
        if body.get("type") in ("url_verification", "ssl_check") or kind in _PASS_THROUGH:
            return await next()
        bot = await store.async_find_bot(enterprise_id=context.enterprise_id,
                                         team_id=context.team_id,
                                         is_enterprise_install=context.is_enterprise_install)
        if bot is None:
            log.info("slack: ignored %s from workspace %s, where heavy is not installed",
                     kind or body.get("type") or "a request", context.team_id
                     or context.enterprise_id or "?")
            return BoltResponse(status=200, body="")
        return await next()

    return check


class WorkspaceDelivery:
    """Wraps the Slack delivery: a job is delivered with its own workspace's token."""

    def __init__(self, inner: Delivery, store: DbInstallationStore) -> None:
        self.inner = inner
        self.store = store

    async def deliver(self, job: Job, run: Run) -> None:
        target = SlackReply.from_reply(job.reply)
        team = target.team or job.spec.workspace or ""
        enterprise = target.enterprise
        bot = await self.store.async_find_bot(enterprise_id=enterprise, team_id=team or None)
        if bot is None:
            # Uninstalled while the job waited: nothing can be posted there. Following the run
            # to its end still lets the runner record it.
            log.info("slack: job %s belongs to workspace %s, which uninstalled heavy; its "
                     "answer is not posted", job.id, team or "?")
            async for event in run.stream():
                if isinstance(event, Done):
                    break
            return
        reset = _TOKEN.set(bot.bot_token)
        try:
            await self.inner.deliver(job, run)
        finally:
            _TOKEN.reset(reset)
