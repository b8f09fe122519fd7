"""Slack credentials and endpoints from the environment (never from config.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SlackEnv:
    bot_token: str
    signing_secret: str  # HTTP mode; Socket Mode does not sign requests
    app_token: str | None = None  # xapp-...: Socket Mode when set
    api_url: str = DEFAULT_API_URL  # GovSlack, proxies and tests use another host
    # Slack's streaming API (chat.startStream...) for the answer where the workspace offers
    # it, else throttled chat.update. SLACK_STREAMING=0 turns it off.
    streaming: bool = True

    def __repr__(self) -> str:  # secrets never reach a log line through a repr
        return (f"SlackEnv(api_url={self.api_url!r}, socket_mode={self.app_token is not None}, "
                f"streaming={self.streaming})")


def slack_env(env: Mapping[str, str]) -> SlackEnv | None:
    """The settings, or None when Slack is not configured (no bot token).

    HTTP mode needs the signing secret; Socket Mode needs the app token instead.
    """
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        return None
    app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
    secret = env.get("SLACK_SIGNING_SECRET", "").strip()
    if not secret and app_token is None:
        raise ValueError("SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) "
                         "nor SLACK_APP_TOKEN (Socket Mode) is")
    api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    if not api_url.endswith("/"):
        api_url += "/"  # slack_sdk joins method names onto the base URL
    streaming = env.get("SLACK_STREAMING", "").strip().lower() not in ("0", "false", "no", "off")
    return SlackEnv(token, secret, app_token, api_url, streaming)
