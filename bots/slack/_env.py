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
    # Several workspaces (OAuth install): app credentials, and the key bot tokens are
    # encrypted with in the database. `bot_token` is then "" (each workspace has its own).
    client_id: str | None = None
    client_secret: str | None = None
    secret_key: str | None = None

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def __repr__(self) -> str:  # secrets never reach a log line through a repr
        return (f"SlackEnv(api_url={self.api_url!r}, socket_mode={self.app_token is not None}, "
                f"streaming={self.streaming}, oauth={self.oauth})")


def slack_env(env: Mapping[str, str]) -> SlackEnv | None:
    """The settings, or None when Slack is not configured (no bot token, no OAuth app).

    HTTP mode needs the signing secret; Socket Mode needs the app token instead. With
    SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, heavy installs into several workspaces and keeps
    their bot tokens encrypted with HEAVY_SECRET_KEY.
    """
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    client_id = env.get("SLACK_CLIENT_ID", "").strip() or None
    client_secret = env.get("SLACK_CLIENT_SECRET", "").strip() or None
    if (client_id is None) != (client_secret is None):
        raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both "
                         "(several workspaces) or neither (SLACK_BOT_TOKEN alone)")
    oauth = client_id is not None
    secret_key = env.get("HEAVY_SECRET_KEY", "").strip() or None
    if oauth and secret_key is None:
        raise ValueError("SLACK_CLIENT_ID is set but HEAVY_SECRET_KEY is not: it encrypts the "
                         "workspaces' bot tokens (generate one with `python -c \"from "
                         "cryptography.fernet import Fernet; print(Fernet.generate_key()"
                         ".decode())\"`)")
    if oauth:
        token = ""  # each workspace is answered with its own token
    elif not token:
        return None
    app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
    secret = env.get("SLACK_SIGNING_SECRET", "").strip()
    if not secret and app_token is None:
        which = "SLACK_CLIENT_ID" if oauth else "SLACK_BOT_TOKEN"
        raise ValueError(f"{which} is set but neither SLACK_SIGNING_SECRET (HTTP mode) "
                         "nor SLACK_APP_TOKEN (Socket Mode) is")
    api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    if not api_url.endswith("/"):
        api_url += "/"  # slack_sdk joins method names onto the base URL
    streaming = env.get("SLACK_STREAMING", "").strip().lower() not in ("0", "false", "no", "off")
    return SlackEnv(token, secret, app_token, api_url, streaming, client_id, client_secret,
                    secret_key if oauth else None)
