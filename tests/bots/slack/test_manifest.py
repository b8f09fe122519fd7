"""deploy/slack-manifest.yaml asks for exactly what bots/slack uses: no more, no less."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.slack._commands import ASK_COMMAND, CONFIG_COMMAND
from bots.slack._shortcut import CALLBACK_ID as SHORTCUT_ID
from bots.slack.native._assistant import suggested_prompts
from bots.slack.native._oauth import BOT_SCOPES, REDIRECT_PATH

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "deploy" / "slack-manifest.yaml"
SOCKET_MODE_MANIFEST = ROOT / "deploy" / "slack-manifest-socket-mode.yaml"
SOURCE = ROOT / "bots" / "slack"

# The bot scopes each Web API method needs (Slack's method reference pages).
METHOD_SCOPES: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_startStream": {"chat:write"},
    "chat_appendStream": {"chat:write"},
    "chat_stopStream": {"chat:write"},
    "chat_stream": {"chat:write"},  # slack_sdk's helper over the three above
    "reactions_add": {"reactions:write"},
    "reactions_remove": {"reactions:write"},
    # Threads in public channels, private channels, DMs and group DMs.
    "conversations_replies": {"channels:history", "groups:history", "im:history",
                              "mpim:history"},
    "users_info": {"users:read"},
    "views_open": set(),  # needs only a trigger_id
    "files_upload_v2": {"files:write"},
    "assistant_threads_setStatus": {"assistant:write"},
    "assistant_threads_setSuggestedPrompts": {"assistant:write"},
    "assistant_threads_setTitle": {"assistant:write"},
    "views_publish": set(),  # App Home: needs no scope
    "auth_test": set(),  # needs no scope
}
# Events and the scopes Slack requires to subscribe to them.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
}
# Not Web API methods: downloading a file's url_private_download with the bot token.
DOWNLOAD_SCOPES = {"slack_policy(": "files:read"}
# Events any app receives without a scope: App Home, and the end of an installation.
SCOPELESS_EVENTS = {"app_home_opened", "app_uninstalled", "tokens_revoked"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))


def _called_methods() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in SOURCE.glob("*.py"))
    return set(re.findall(r"client\.([a-z]+_[A-Za-z0-9_]+)\(", text))


def test_every_called_method_is_known() -> None:
    called = _called_methods()
    assert called, "the scan found no Web API calls"
    assert called <= set(METHOD_SCOPES), called - set(METHOD_SCOPES)


def test_scopes_are_exactly_what_is_used(manifest: dict[str, Any]) -> None:
    needed = {"commands"} | set(EVENT_SCOPES.values())
    for method in _called_methods():
        needed |= METHOD_SCOPES[method]
    source = "\n".join(p.read_text(encoding="utf-8") for p in SOURCE.glob("*.py"))
    needed |= {scope for call, scope in DOWNLOAD_SCOPES.items() if call in source}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    # What an OAuth install asks for is what the manifest declares.
    assert set(BOT_SCOPES) == needed


def test_events_commands_and_interactivity(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == (
        set(EVENT_SCOPES) | SCOPELESS_EVENTS)
    commands = manifest["features"]["slash_commands"]
    assert {c["command"] for c in commands} == {ASK_COMMAND, CONFIG_COMMAND}
    assert settings["interactivity"]["is_enabled"] is True
    urls = {settings["event_subscriptions"]["request_url"],
            settings["interactivity"]["request_url"], *(c["url"] for c in commands)}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")


def test_split_view_shortcut_home_and_install(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["assistant_view"]["assistant_description"]
    # The manifest's prompts (shown before any thread starts) are among the code's own.
    shown = features["assistant_view"]["suggested_prompts"]
    assert shown and all(p in suggested_prompts(None) for p in shown)
    assert features["app_home"]["home_tab_enabled"] is True
    assert [(s["type"], s["callback_id"]) for s in features["shortcuts"]] == [
        ("message", SHORTCUT_ID)]
    [redirect] = manifest["oauth_config"]["redirect_urls"]
    assert redirect.endswith(REDIRECT_PATH)


def test_the_socket_mode_manifest_is_the_same_app_with_no_address(manifest: dict[str, Any]) -> None:
    # Pasted as it is: no URL to replace, no redirect to a host the user does not have.
    text = SOCKET_MODE_MANIFEST.read_text(encoding="utf-8")
    assert "heavy.example.com" not in text and "url" not in text.replace("url_private", "")
    socket_mode = yaml.safe_load(text)
    # Everything else is the HTTP manifest's: scopes, events, commands, shortcut, split view.
    http = copy.deepcopy(manifest)
    settings = http["settings"]
    del settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]
    del http["oauth_config"]["redirect_urls"]
    for command in http["features"]["slash_commands"]:
        del command["url"]
    settings["socket_mode_enabled"] = True
    assert socket_mode == http
