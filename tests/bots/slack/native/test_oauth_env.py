"""Several-workspace settings from the environment, and where "Add to Slack" points."""

from __future__ import annotations

import pytest

from bots.slack import slack_env
from bots.slack.native._oauth import authorize_url

KEY = "x" * 43 + "="
OAUTH = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "shh-never-real",
         "SLACK_SIGNING_SECRET": "s", "HEAVY_SECRET_KEY": KEY}


@pytest.mark.parametrize(("env", "oauth", "token"), [
    # the OAuth app alone: several workspaces, no shared bot token
    (OAUTH, True, ""),
    # both set: installations win, SLACK_BOT_TOKEN is not used
    ({**OAUTH, "SLACK_BOT_TOKEN": "xoxb-1"}, True, ""),
    # the bot token alone: one workspace, as before
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, False, "xoxb-1"),
])
def test_oauth_mode(env: dict[str, str], oauth: bool, token: str) -> None:
    parsed = slack_env(env)
    assert parsed is not None and parsed.oauth is oauth and parsed.bot_token == token
    assert "shh" not in repr(parsed) and KEY not in repr(parsed)


@pytest.mark.parametrize(("env", "message"), [
    # half an app
    ({"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "s"}, "go together"),
    # tokens would be stored in clear
    ({k: v for k, v in OAUTH.items() if k != "HEAVY_SECRET_KEY"}, "HEAVY_SECRET_KEY"),
    # no way to receive events
    ({k: v for k, v in OAUTH.items() if k != "SLACK_SIGNING_SECRET"}, "SLACK_CLIENT_ID is set"),
])
def test_oauth_mode_refusals_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        slack_env(env)
    assert "shh" not in str(err.value)


@pytest.mark.parametrize(("api_url", "expected"), [
    ("https://slack.com/api/", "https://slack.com/oauth/v2/authorize"),  # Slack
    ("https://slack-gov.com/api/", "https://slack-gov.com/oauth/v2/authorize"),  # GovSlack
    ("http://127.0.0.1:9/api/", "http://127.0.0.1:9/oauth/v2/authorize"),  # a fake or proxy
])
def test_authorize_url_follows_the_api_host(api_url: str, expected: str) -> None:
    assert authorize_url(api_url) == expected
