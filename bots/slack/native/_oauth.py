"""Installing heavy into several workspaces: `GET /slack/install` (a page with an "Add to
Slack" link carrying a one-time state, also set as a cookie in the browser) and
`GET /slack/oauth_redirect` (checks the state, exchanges the code with `oauth.v2.access` on
SLACK_API_URL and stores the installation). The routes only translate aiohttp to Bolt's
OAuth flow and back.
"""

from __future__ import annotations

import html
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse

from .._env import SlackEnv
from ._installs import STATE_TTL_S, DbInstallationStore, DbOAuthStateStore

log = logging.getLogger("heavy.slack")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# What heavy asks a workspace for: exactly what the code uses (the manifest test checks it).
BOT_SCOPES = (
    "app_mentions:read", "assistant:write", "channels:history", "chat:write", "commands",
    "files:read", "files:write", "groups:history", "im:history", "mpim:history", "reactions:write",
    "users:read",
)
_REASONS = {
    "invalid_browser": "This install was started in another browser (or its cookie expired).",
    "invalid_state": ("The install link was forged, already used or expired: heavy did not "
                      "issue this state."),
    "missing_code": "Slack did not send an authorisation code.",
    "invalid_code": "Slack refused the authorisation code.",
    "access_denied": "The installation was cancelled in Slack.",
    "storage_error": "heavy could not save the installation.",
}


def authorize_url(api_url: str) -> str:
    """Slack's "Add to Slack" page on the same host as the Web API (GovSlack, tests)."""
    base = api_url.rstrip("/")
    base = base[: -len("/api")] if base.endswith("/api") else base
    return f"{base}/oauth/v2/authorize"


def _page(title: str, text: str) -> str:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>heavy: {title}"
            f"</title></head><body style=\"font-family:sans-serif;padding:2em\">"
            f"<h2>{title}</h2><p>{text}</p></body></html>")


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    reason = _REASONS.get(args.reason, "The installation did not complete.")
    log.info("slack: install refused (%s)", args.reason)
    body = _page("Installation refused", f"{html.escape(reason)} Start again from "
                 f"<a href=\"{INSTALL_PATH}\">{INSTALL_PATH}</a>.")
    return BoltResponse(status=args.suggested_status_code, body=body,
                        headers={"Content-Type": "text/html; charset=utf-8"})


async def _success(args: AsyncSuccessArgs) -> BoltResponse:
    team = args.installation.team_name or args.installation.team_id or "your workspace"
    body = _page("heavy is installed", f"heavy can now answer in {html.escape(team)}: invite "
                 "it to a channel with <code>/invite @heavy</code> and mention it, open it "
                 "from the top bar, or use <code>/heavy</code>.")
    return BoltResponse(status=200, body=body,
                        headers={"Content-Type": "text/html; charset=utf-8"})


def oauth_settings(env: SlackEnv, installs: DbInstallationStore,
                   states: DbOAuthStateStore) -> AsyncOAuthSettings:
    assert env.client_id and env.client_secret
    settings = AsyncOAuthSettings(
        client_id=env.client_id, client_secret=env.client_secret, scopes=list(BOT_SCOPES),
        installation_store=installs, installation_store_bot_only=True, state_store=states,
        install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorize_url(env.api_url), state_expiration_seconds=STATE_TTL_S,
    )
    settings.callback_options = AsyncCallbackOptions(success=_success, failure=_failure)
    return settings


class OAuthRoutes:
    """aiohttp -> Bolt's OAuth flow -> aiohttp."""

    def __init__(self, flow: AsyncOAuthFlow) -> None:
        self.flow = flow

    def routes(self) -> list[web.RouteDef]:
        return [web.get(INSTALL_PATH, self.install), web.get(REDIRECT_PATH, self.redirect)]

    async def install(self, request: web.Request) -> web.Response:
        response = await self.flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def redirect(self, request: web.Request) -> web.Response:
        response = await self.flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(response)
