"""Scenario: `/heavy`, `/heavy-config` and the settings modal through the real Bolt app."""

from __future__ import annotations

import json
from typing import Any

from heavy_engine.settings import Scope

from .conftest import MakeSlack, Slack, simulated_config
from .fake_slack import TEAM, FakeSlack


async def test_heavy_answers_in_the_thread_of_a_new_message(slack: Slack) -> None:
    resp = await slack.command(heavy_command(slack.fake, "Is Rust faster than Go?"))
    assert resp.status == 200 and await resp.text() == ""  # acked at once, no echo
    await slack.settle()
    root, card, answer = slack.fake.called("chat.postMessage")
    assert root.args["channel"] == "C0GENERAL" and "thread_ts" not in root.args
    assert root.args["text"] == "<@U0ALICE> asked: Is Rust faster than Go?"
    assert card.args["thread_ts"] == root.ts and answer.args["thread_ts"] == root.ts
    assert slack.fake.called("reactions.add", name="white_check_mark", timestamp=root.ts)


async def test_heavy_without_a_question_explains_itself(slack: Slack) -> None:
    await slack.command(heavy_command(slack.fake, "   "))
    await slack.settle()
    [reply] = slack.fake.responses
    assert reply["response_type"] == "ephemeral" and "/heavy" in reply["text"]
    assert not slack.fake.called("chat.postMessage")


async def test_heavy_in_a_channel_the_bot_is_not_in(slack: Slack) -> None:
    slack.fake.fail_next("chat.postMessage", "not_in_channel")
    await slack.command(heavy_command(slack.fake, "Anything?"))
    await slack.settle()
    [reply] = slack.fake.responses
    assert "/invite" in reply["text"] and reply["response_type"] == "ephemeral"


async def test_a_question_full_of_markup_still_gets_its_thread(slack: Slack) -> None:
    # Escaping `<`, `>` and `&` can multiply the length: the echo must stay below 4,000.
    question = "Why does <b>this</b> &amp; <i>that</i> render? " * 60  # 2,940 characters
    await slack.command(heavy_command(slack.fake, question))
    await slack.settle()
    root, card, *_answers = slack.fake.called("chat.postMessage")
    assert len(root.args["text"]) <= 3000 and "&lt;b&gt;this" in root.args["text"]
    assert card.args["thread_ts"] == root.ts
    assert not slack.fake.responses  # no "invite me" hint: the bot is in the channel


async def test_a_failed_echo_is_not_blamed_on_the_invitation(slack: Slack) -> None:
    slack.fake.fail_next("chat.postMessage", "internal_error", status=500)
    await slack.command(heavy_command(slack.fake, "Anything?"))
    await slack.settle()
    [reply] = slack.fake.responses
    assert "/invite" not in reply["text"] and "(ref `" in reply["text"]


async def test_a_rejected_question_is_told_to_the_asker_only(slack: Slack) -> None:
    await slack.command(heavy_command(slack.fake, "x" * 9000))  # over max_question_chars
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0ALICE")
    assert "limit is 8000" in note.args["text"]
    assert len(slack.fake.called("chat.postMessage")) == 1  # only the "asked:" root


async def test_config_show_is_text_for_everyone(slack: Slack) -> None:
    await slack.command(config_command(slack.fake, "show"))
    await slack.settle()
    [reply] = slack.fake.responses
    assert reply["response_type"] == "ephemeral"
    assert "`agents` = 2  _(default)_" in reply["text"]
    assert "`thread_policy` = mention" in reply["text"]


async def test_non_admin_cannot_open_or_reset_settings(slack: Slack) -> None:
    await slack.command(config_command(slack.fake, ""))
    await slack.command(config_command(slack.fake, "reset"))
    await slack.settle()
    assert len(slack.fake.responses) == 2
    assert all("Only workspace admins" in r["text"] for r in slack.fake.responses)
    assert not slack.fake.called("views.open")
    assert slack.fake.called("users.info", user="U0ALICE")


async def test_admin_opens_the_modal_prefilled(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    await slack.command(config_command(slack.fake, "", user="U0ADMIN"))
    await slack.settle()
    [opened] = slack.fake.called("views.open", trigger_id="13345224609.738474920.8088930838d")
    view = opened.args["view"]
    assert view["callback_id"] == "heavy_config"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["agents"]["element"]["initial_value"] == "2"
    assert blocks["thread_policy"]["element"]["initial_option"]["value"] == "mention"
    assert json.loads(view["private_metadata"]) == {"t": TEAM, "c": "C0GENERAL", "v": 0,
                                                    "o": "C0GENERAL"}


async def test_modal_submission_saves_changes_with_an_audit_entry(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_owner": True}
    resp = await slack.interaction(modal_submission(
        user="U0ADMIN", agents="3", policy="follow", prompt="Answer like a pirate.",
        agent_models="\nfake/other"))
    assert resp.status == 200 and await resp.text() == ""  # closes the modal
    scope = Scope("slack", TEAM, "C0GENERAL")
    stored = await slack.settings.get(scope)
    assert stored.values == {"agents": 3, "thread_policy": "follow",
                             "system_prompt": "Answer like a pirate.",
                             "agent.2.model": "fake/other"}
    [entry] = await slack.settings.history(scope)
    assert entry.by == "slack:U0ADMIN" and entry.action == "set"
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0ADMIN")
    assert "Saved heavy's settings for <#C0GENERAL>" in note.args["text"]


async def test_modal_submission_closes_before_the_confirmation_is_sent(slack: Slack) -> None:
    # Slack waits 3 s for the ack; a slow chat.postEphemeral must not hold the modal open.
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    slack.fake.delays["chat.postEphemeral"] = 1.0
    resp = await slack.interaction(modal_submission(user="U0ADMIN", agents="3"))
    assert resp.status == 200 and await resp.text() == ""
    assert not slack.fake.called("chat.postEphemeral")  # not even answered yet
    await slack.settle()
    [note] = slack.fake.called("chat.postEphemeral", user="U0ADMIN")
    assert "Saved heavy's settings for <#C0GENERAL>: agents" in note.args["text"]


async def test_modal_submission_by_a_non_admin_is_refused(slack: Slack) -> None:
    resp = await slack.interaction(modal_submission(user="U0MALLORY", agents="16"))
    body = await resp.json()
    assert body["response_action"] == "errors"
    assert (await slack.settings.get(Scope("slack", TEAM, "C0GENERAL"))).version == 0


async def test_modal_refuses_a_model_outside_the_allowed_list(make_slack: MakeSlack) -> None:
    slack = await make_slack(simulated_config(allowed_models=["openai/gpt-4o-mini", "a/b"]))
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    resp = await slack.interaction(modal_submission(user="U0ADMIN", model="evil/expensive"))
    body = await resp.json()
    assert body["response_action"] == "errors" and "model" in body["errors"]
    assert not await slack.settings.history(Scope("slack", TEAM, "C0GENERAL"))


async def test_operator_listed_ids_may_reset(make_slack: MakeSlack) -> None:
    slack = await make_slack(simulated_config(admins=["U0OPS"]))
    scope = Scope("slack", TEAM, "C0GENERAL")
    await slack.settings.set(scope, {"agents": 5}, actor="test")
    await slack.command(config_command(slack.fake, "reset", user="U0OPS"))
    await slack.settle()
    assert (await slack.settings.get(scope)).values == {}
    assert [e.action for e in await slack.settings.history(scope)] == ["reset", "set"]
    assert "back to the defaults" in slack.fake.responses[0]["text"]


async def test_workspace_default_scope(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_primary_owner": True}
    await slack.command(config_command(slack.fake, "workspace", user="U0ADMIN"))
    await slack.settle()
    [opened] = slack.fake.called("views.open")
    assert json.loads(opened.args["view"]["private_metadata"])["c"] == ""


# -- payloads ---------------------------------------------------------------------------------


def _command(fake: FakeSlack, command: str, text: str, user: str) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "example",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0HEAVY",
        "is_enterprise_install": "false",
        "response_url": fake.response_url(),
        "trigger_id": "13345224609.738474920.8088930838d",
    }


def heavy_command(fake: FakeSlack, text: str, user: str = "U0ALICE") -> dict[str, str]:
    return _command(fake, "/heavy", text, user)


def config_command(fake: FakeSlack, text: str, user: str = "U0ALICE") -> dict[str, str]:
    return _command(fake, "/heavy-config", text, user)


def modal_submission(*, user: str, model: str = "openai/gpt-4o-mini", agents: str = "2",
                     policy: str = "mention", prompt: str | None = None,
                     agent_models: str | None = None, channel: str = "C0GENERAL",
                     version: int = 0) -> dict[str, Any]:
    tools = ["calculate", "fetch_url", "list_files", "mark_task_complete", "read_file",
             "web_search", "write_file"]
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0HEAVY",
        "token": "legacy-verification-token",
        "trigger_id": "12345.98765.abcd2358fdea",
        "view": {
            "id": "V0VIEW",
            "team_id": TEAM,
            "type": "modal",
            "callback_id": "heavy_config",
            "private_metadata": json.dumps({"t": TEAM, "c": channel, "v": version,
                                            "o": "C0GENERAL"}),
            "hash": "156772938.1827394",
            "state": {"values": {
                "model": {"model": {"type": "static_select", "selected_option": {
                    "text": {"type": "plain_text", "text": model}, "value": model}}},
                "agents": {"agents": {"type": "number_input", "value": agents}},
                "agent_models": {"agent_models": {"type": "plain_text_input",
                                                  "value": agent_models}},
                "system_prompt": {"system_prompt": {"type": "plain_text_input",
                                                    "value": prompt}},
                "tools": {"tools": {"type": "multi_static_select", "selected_options": [
                    {"text": {"type": "plain_text", "text": t}, "value": t} for t in tools]}},
                "thread_policy": {"thread_policy": {"type": "radio_buttons",
                                                    "selected_option": {
                    "text": {"type": "plain_text", "text": policy}, "value": policy}}},
            }},
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
