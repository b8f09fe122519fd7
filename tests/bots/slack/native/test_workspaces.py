"""Scenario: installing heavy into several workspaces over OAuth, each answered with its own
token, and uninstalling. The real Bolt OAuth flow against the fake Web API."""

from __future__ import annotations

import logging
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bots.slack.native._installs import SlackInstall, TokenCipher
from bots.slack.native._oauth import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH

from ..conftest import MakeSlack, Slack
from ..fake_slack import BOT_USER, TEAM
from ..test_feedback import feedback_click
from ..test_mentions import MENTION_TS, mention
from .test_home import home_opened

CLIENT = ("1111.2222", "client-secret-never-real")
SECOND = "T0SECOND"
TOKENS = {TEAM: "xoxb-first-workspace-never-real", SECOND: "xoxb-second-workspace-never-real"}
BOTS = {TEAM: (BOT_USER, "B0BOT"), SECOND: ("U0BOT2", "B0BOT2")}


@pytest.fixture
async def multi(make_slack: MakeSlack) -> Slack:
    slack = await make_slack(extra_env={
        "SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT[0], "SLACK_CLIENT_SECRET": CLIENT[1],
        "HEAVY_SECRET_KEY": Fernet.generate_key().decode()})
    slack.fake.oauth_client = CLIENT
    for team, token in TOKENS.items():
        user, bot = BOTS[team]
        slack.fake.tokens[token] = {"team_id": team, "user_id": user, "bot_id": bot}
    return slack


async def install(slack: Slack, team: str) -> str:
    """Walk the browser through /slack/install and Slack's redirect; the result page."""
    page = await slack.http.get(INSTALL_PATH)
    assert page.status == 200
    html = await page.text()
    link = unescape(re.search(r'<a href="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    url = urlparse(link)
    query = parse_qs(url.query)
    assert url.path == "/oauth/v2/authorize"  # on the SLACK_API_URL host
    assert f"127.0.0.1:{slack.fake.port}" == url.netloc
    assert query["client_id"] == [CLIENT[0]]
    assert set(query["scope"][0].split(",")) == set(BOT_SCOPES)
    state = query["state"][0]
    cookie = page.headers["Set-Cookie"].split(";")[0]  # the browser keeps it
    assert cookie.endswith(state)
    user, _bot = BOTS[team]
    slack.fake.oauth_codes[f"code-{team}"] = {
        "access_token": TOKENS[team], "token_type": "bot", "scope": ",".join(BOT_SCOPES),
        "bot_user_id": user, "app_id": "A0HEAVY", "team": {"id": team, "name": f"ws {team}"},
        "enterprise": None, "is_enterprise_install": False,
        "authed_user": {"id": "U0INSTALLER"}}
    done = await slack.http.get(REDIRECT_PATH, params={"code": f"code-{team}", "state": state},
                                headers={"Cookie": cookie})
    assert done.status == 200, await done.text()
    return await done.text()


async def test_install_into_two_workspaces_each_answered_with_its_own_token(
    multi: Slack,
) -> None:
    for team in TOKENS:
        assert "heavy is installed" in await install(multi, team)
    assert len(multi.fake.called("oauth.v2.access")) == 2
    # At rest, tokens are encrypted.
    async with multi.settings.db.session() as session:
        rows = list(await session.scalars(select(SlackInstall)))
    assert {r.team_id for r in rows} == set(TOKENS)
    assert all("xoxb" not in r.bot_token for r in rows)

    for n, team in enumerate(TOKENS):
        multi.fake.calls.clear()
        await multi.event(in_team(mention(event_id=f"Ev0WS{n}"), team))
        await multi.settle()
        posts = multi.fake.called("chat.postMessage", thread_ts=MENTION_TS)
        assert len(posts) == 2, multi.fake.methods()  # progress card and answer
        answered = [c for c in multi.fake.calls if c.method.startswith(("chat.", "reactions."))]
        assert {c.token for c in answered} == {TOKENS[team]}


async def test_app_home_and_feedback_in_the_second_workspace_use_its_token(
    multi: Slack,
) -> None:
    for team in TOKENS:
        await install(multi, team)
    await multi.event(in_team(mention(event_id="Ev0WSFB"), SECOND))
    await multi.settle()
    _card, answer = multi.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    final = [answer, *multi.fake.called("chat.update", ts=answer.ts)][-1].args
    value = final["blocks"][-1]["elements"][0]["positive_button"]["value"]
    multi.fake.calls.clear()
    click = feedback_click(value, str(answer.ts), "U0ALICE")
    click["team"] = {"id": SECOND, "domain": "second"}
    click["user"] = {**click["user"], "team_id": SECOND}
    await multi.interaction(click)
    home = home_opened("U0ALICE")
    home = {**home, "team_id": SECOND,
            "authorizations": [{**home["authorizations"][0], "team_id": SECOND,
                                "user_id": BOTS[SECOND][0]}]}
    await multi.event(home)
    await multi.settle()
    [thanks] = multi.fake.called("chat.postEphemeral", user="U0ALICE")
    [publish] = multi.fake.called("views.publish", user_id="U0ALICE")
    assert thanks.token == TOKENS[SECOND] and publish.token == TOKENS[SECOND]
    assert "rated :+1:" in str(publish.args["view"])  # the second workspace's own question


async def test_a_forged_state_is_refused_with_a_page_saying_so(multi: Slack) -> None:
    resp = await multi.http.get(REDIRECT_PATH, params={"code": "x", "state": "forged"},
                                headers={"Cookie": "slack-app-oauth-state=forged"})
    assert resp.status == 401
    assert "forged" in await resp.text()
    assert not multi.fake.called("oauth.v2.access")


async def test_a_state_works_once(multi: Slack) -> None:
    await install(multi, SECOND)
    page = await multi.http.get(INSTALL_PATH)
    state = parse_qs(urlparse(unescape(re.search(  # type: ignore[union-attr]
        r'<a href="([^"]+)"', await page.text()).group(1))).query)["state"][0]
    cookie = f"slack-app-oauth-state={state}"
    first = await multi.http.get(REDIRECT_PATH, params={"code": "none", "state": state},
                                 headers={"Cookie": cookie})
    again = await multi.http.get(REDIRECT_PATH, params={"code": "none", "state": state},
                                 headers={"Cookie": cookie})
    assert first.status == 401 and "refused the authorisation code" in await first.text()
    assert again.status == 401 and "already used" in await again.text()


async def test_unknown_workspace_is_acked_and_ignored_with_one_line(
    multi: Slack, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        resp = await multi.event(in_team(mention(), "T0NOBODY"))
        await multi.settle()
    assert resp.status == 200 and await resp.text() == ""
    assert not [c for c in multi.fake.calls if c.method != "auth.test"]
    lines = [r for r in caplog.records if "T0NOBODY" in r.getMessage()]
    assert len(lines) == 1 and "not installed" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_uninstall_forgets_the_workspace(multi: Slack) -> None:
    await install(multi, SECOND)
    resp = await multi.event(in_team(uninstalled(), SECOND))
    assert resp.status == 200
    await multi.settle()
    async with multi.settings.db.session() as session:
        assert not list(await session.scalars(select(SlackInstall)))
    multi.fake.calls.clear()
    await multi.event(in_team(mention(event_id="Ev0AFTER"), SECOND))
    await multi.settle()
    assert not multi.fake.called("chat.postMessage")


async def test_tokens_revoked_forgets_the_bot(multi: Slack) -> None:
    await install(multi, SECOND)
    await multi.event(in_team(tokens_revoked(), SECOND))
    await multi.settle()
    async with multi.settings.db.session() as session:
        assert not list(await session.scalars(select(SlackInstall)))


async def test_bot_token_alone_keeps_a_single_workspace(slack: Slack) -> None:
    assert slack.adapter.app.oauth_flow is None
    resp = await slack.http.get(INSTALL_PATH)
    assert resp.status == 404  # no install page without SLACK_CLIENT_ID
    await slack.event(mention())
    await slack.settle()
    assert {c.token for c in slack.fake.called("chat.postMessage")} == {
        "xoxb-0000-test-token-never-real"}


def test_a_wrong_key_reads_as_not_installed_and_a_bad_key_is_named() -> None:
    stored = TokenCipher(Fernet.generate_key().decode()).encrypt("xoxb-1")
    assert TokenCipher(Fernet.generate_key().decode()).decrypt(stored) is None
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    # Rotation: a new key first still reads tokens written under the old one.
    assert TokenCipher(f"{new},{old}").decrypt(TokenCipher(old).encrypt("xoxb-2")) == "xoxb-2"
    with pytest.raises(ValueError, match="HEAVY_SECRET_KEY") as err:
        TokenCipher("not-a-key")
    assert "not-a-key" not in str(err.value)


# -- payloads ------------------------------------------------------------------------------


def in_team(envelope: dict[str, Any], team: str) -> dict[str, Any]:
    user, _bot = BOTS.get(team, ("U0BOTX", "B0BOTX"))
    envelope = {**envelope, "team_id": team, "context_team_id": team,
                "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": user,
                                    "is_bot": True, "is_enterprise_install": False}]}
    envelope["event"] = {**envelope["event"], "team": team}
    if "text" in envelope["event"]:
        envelope["event"]["text"] = envelope["event"]["text"].replace(BOT_USER, user)
    return envelope


def uninstalled() -> dict[str, Any]:
    return {"token": "legacy-verification-token", "team_id": TEAM, "api_app_id": "A0HEAVY",
            "event": {"type": "app_uninstalled", "event_ts": "1700000900.000100"},
            "type": "event_callback", "event_id": "Ev0UNINSTALL", "event_time": 1700000900}


def tokens_revoked() -> dict[str, Any]:
    return {"token": "legacy-verification-token", "team_id": TEAM, "api_app_id": "A0HEAVY",
            "event": {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT2"]},
                      "event_ts": "1700000901.000100"},
            "type": "event_callback", "event_id": "Ev0REVOKED", "event_time": 1700000901}
