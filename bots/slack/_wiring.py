"""`SlackAdapter`: the Bolt app, its HTTP route and Socket Mode connection.

Middleware order, written down here because it matters: on HTTP, our gate (`_verify`: the
signature and timestamp on the raw bytes, 401 otherwise; then a body Bolt can read, 400
otherwise), then Bolt's own: SSL check, request signature and timestamp verification again, single-workspace authorization
(`auth.test`, which gives the bot's user id), ignoring the bot's own events, then our listeners
(which ack first and work in the background).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.web.async_client import AsyncWebClient

from heavy_engine.delivery import ReplyPipeline
from heavy_engine.jobs import Services
from heavy_engine.service import signed_webhook
from heavy_engine.settings import AnyOf, ConfigAdmins

from . import _commands, _feedback, _followups, _shortcut, _stop, _triggers, _verify
from ._admin import SlackAdmins
from ._bot import SlackBot, reference
from ._context import ThreadHistory
from ._env import SlackEnv
from ._intake import PLATFORM
from ._surface import SlackSurface
from ._verify import signed
from .native import (
    DbInstallationStore,
    DbOAuthStateStore,
    DbThreadContextStore,
    OAuthRoutes,
    TokenCipher,
    WorkspaceClient,
    WorkspaceDelivery,
    bind_request_token,
    ignore_unknown_workspaces,
    oauth_settings,
    register_assistant,
    register_home,
)

log = logging.getLogger("heavy.slack")

EVENTS_PATH = "/slack/events"


def build_client(env: SlackEnv, *, wait_on_429: bool = True) -> AsyncWebClient:
    """A Web API client on `SLACK_API_URL`.

    With `wait_on_429`, a rate-limited call waits out Retry-After once before failing (progress
    edits add their own coalescing on top: the engine's reply pipeline). Without it, a 429 fails at once:
    for thread history, whose limit can be a minute, an answer without context beats a wait.
    """
    retries: list[AsyncRetryHandler] = async_default_handlers()  # a dropped connection: once
    if wait_on_429:
        retries.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    # Each call carries the token of the workspace it is made for (see `_workspaces`).
    return WorkspaceClient(token=env.bot_token or None, base_url=env.api_url,
                           retry_handlers=retries)


class _NoTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client's token wins: it does,
    on purpose (the client carries the API URL and the retry handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_NO_TOKEN_NOTICE = _NoTokenNotice()


class SlackAdapter:
    name = PLATFORM

    def __init__(self, services: Services, env: SlackEnv, *, edit_interval: float = 1.0,
                 client: AsyncWebClient | None = None) -> None:
        self.services = services
        self.env = env
        self.client = client or build_client(env)
        slack_admins = SlackAdmins(self.client)
        self.bot = SlackBot(
            services=services, client=self.client,
            history=ThreadHistory(build_client(env, wait_on_429=False)),
            admins=AnyOf(slack_admins, ConfigAdmins.from_config(services.config)),
        )
        self.surface = SlackSurface(self.client, interval=edit_interval,
                                    streaming=env.streaming, on_thread=self.bot.remember_thread)
        self.delivery = ReplyPipeline(services.runner, self.surface, name=PLATFORM,
                                      settings=services.settings)
        self.bot.delivery, self.bot.surface = self.delivery, self.surface
        bolt_log = logging.getLogger("heavy.slack.bolt")
        bolt_log.addFilter(_NO_TOKEN_NOTICE)  # the same object is only added once
        # Several workspaces: installations in the database, each answered with its token.
        db = services.settings.db
        self.installs = (DbInstallationStore(db, TokenCipher(env.secret_key or ""))
                         if env.oauth else None)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=env.signing_secret,
            # Both stay on: they are the reason to use Bolt rather than raw HTTP.
            request_verification_enabled=True,
            ignoring_self_events_enabled=True,
            logger=bolt_log,
            name="heavy",
            oauth_settings=(oauth_settings(env, self.installs, DbOAuthStateStore(db))
                            if self.installs else None),
            before_authorize=(ignore_unknown_workspaces(self.installs)
                              if self.installs else None),
        )
        self.app.error(self._on_error)
        self.app.use(bind_request_token)  # first: every listener below calls with its token
        if self.installs is not None:
            self.app.enable_token_revocation_listeners()  # app_uninstalled, tokens_revoked
        self.assistant_threads = DbThreadContextStore(db)  # the channel each thread looks at
        register_assistant(self.app, self.bot, self.assistant_threads)
        _triggers.register(self.app, self.bot)
        _commands.register(self.app, self.bot)
        _stop.register(self.app, self.bot)
        _followups.register(self.app, self.bot)  # Regenerate / Go deeper
        register_home(self.app, self.bot)
        _shortcut.register(self.app, self.bot)
        _feedback.register(self.app, self.bot)
        self._socket: Any = None
        self._delivery = (WorkspaceDelivery(self.delivery, self.installs)
                          if self.installs else self.delivery)
        services.runner.register_delivery(PLATFORM, self._delivery)

    def routes(self) -> list[web.RouteDef]:
        oauth = self.app.oauth_flow
        # Signed: Slack's servers post form-encoded commands; the signature is the check.
        return [signed_webhook("POST", EVENTS_PATH, self.handle, "slack-events"),
                *(OAuthRoutes(oauth).routes() if oauth is not None else [])]

    async def handle(self, request: web.Request) -> web.Response:
        """aiohttp -> Bolt -> aiohttp. The signature is checked on the raw bytes before
        anything parses them (Bolt checks it again), and a signed body Bolt could not read is
        400: see `_verify`."""
        raw = await request.read()
        if not signed(self.env.signing_secret or "", raw, request.headers, now=time.time()):
            log.debug("slack: unsigned or stale request refused")
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_request = _verify.bolt_request(raw, request.query_string, request.headers)
        if bolt_request is None:
            log.info("slack: a signed request with a malformed body refused")
            return web.json_response({"error": "malformed request body"}, status=400)
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def start(self) -> None:
        self.services.runner.register_delivery(PLATFORM, self._delivery)
        if self.env.app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.env.app_token,
                                                  web_client=self.client)
            await self._socket.connect_async()
            log.info("slack: connected in Socket Mode")
        else:
            log.info("slack: listening for events on POST %s", EVENTS_PATH)

    async def start_deliveries(self) -> None:
        """A worker: deliveries only; events arrive on the `--role web` replicas."""
        self.services.runner.register_delivery(PLATFORM, self._delivery)

    async def stop(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()
        await self.bot.drain()

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        # Bolt calls this for listener errors our own guards did not catch.
        log.error("slack listener error (ref %s): %s", reference(), type(error).__name__,
                  exc_info=error)
