"""Issue 14 on Discord, end to end through the real client: attachments, DMs that remember,
reply chains, Regenerate / Go deeper, who may ask, install contexts, help."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine.conversations import CHAIN_HEADER, DM_HEADER
from heavy_engine.settings import Scope

from .conftest import Stack
from .fake_discord import (
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    GUILD_ID,
    ROLE_ID,
    bot_user,
    message,
    thread_channel,
)
from .helpers import ALICE, BOB, interaction, message_posts
from .test_mentions import DM_CHANNEL, _card_in, said

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def _answered_in(stack: Stack, channel: str) -> dict[str, Any]:
    """Wait for the run in `channel` to end; the body of the answer's last message."""
    card = await _card_in(stack, channel)
    await stack.finish(card)
    answers = [c for c in message_posts(stack.fake, channel) if c.body.get("content")]
    body: dict[str, Any] = answers[-1].body
    return body


def _prompt(stack: Stack) -> str:
    return str(stack.llm.calls("decompose")[-1].body)


def _buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in body.get("components") or [] for c in row["components"]]


# -- 1. attachments ----------------------------------------------------------------------------

async def test_a_mention_with_files_reads_them_and_names_the_skipped_one(stack: Stack) -> None:
    fake = stack.fake
    msg = said(f"<@{BOT_ID}> What does this log say?")
    msg["attachments"] = [
        fake.attach("server.log", b"ERROR disk full on /var at 03:12\n"),
        fake.attach("data.bin", b"\x00\x01\x02", content_type="application/octet-stream"),
        fake.attach("big.csv", b"id,value\n" + b"1,2\n" * 300_000, content_type="text/csv"),
    ]
    await fake.user_message(msg)
    answer = await _answered_in(stack, msg["id"])
    prompt = _prompt(stack)
    assert 'attached file \\"server.log\\"' in prompt or 'attached file "server.log"' in prompt
    assert "ERROR disk full on /var at 03:12" in prompt  # every agent gets the text
    assert "skipped data.bin: unsupported type" in answer["content"]  # named under the answer
    assert "skipped big.csv: over 1 MB" in answer["content"]  # the cap, checked while reading
    [download] = [d for d in fake.downloads if d[0].endswith("/server.log")]
    assert download[1]["hm"] and download[1]["ex"]  # the signed query string came back intact
    assert "Authorization" not in download[2]  # never the bot token to a file host


async def test_a_dm_with_only_a_file_is_a_question_about_it(stack: Stack) -> None:
    fake = stack.fake
    msg = said("", channel=DM_CHANNEL, mention=False, guild=None)
    msg["attachments"] = [fake.attach("notes.md", b"# Plan\nShip on Friday.")]
    await fake.user_message(msg)
    await _answered_in(stack, DM_CHANNEL)
    prompt = _prompt(stack)
    assert "Read the attached file(s)" in prompt and "Ship on Friday." in prompt


# -- 2. DMs remember ---------------------------------------------------------------------------

async def test_a_dm_remembers_the_earlier_messages_of_that_dm(stack: Stack) -> None:
    fake = stack.fake
    first = said("My service is written in Elixir.", channel=DM_CHANNEL, mention=False,
                 guild=None)
    await fake.user_message(first)
    await _answered_in(stack, DM_CHANNEL)
    fake.calls.clear()
    second = said("Which queue fits it best?", channel=DM_CHANNEL, mention=False, guild=None)
    await fake.user_message(second)
    await _answered_in(stack, DM_CHANNEL)
    prompt = _prompt(stack)
    assert DM_HEADER in prompt
    assert "My service is written in Elixir." in prompt  # the user's earlier message
    assert "heavy: " in prompt  # and heavy's earlier answer


# -- 3. reply chains ---------------------------------------------------------------------------

async def test_a_reply_to_an_answer_gets_the_chain_as_context(stack: Stack) -> None:
    fake = stack.fake
    question = said("Which CI is cheapest for us?", mention=False)
    fake.messages[question["id"]] = question
    answer_id = fake.new_id()
    answer = message(answer_id, CHANNEL_ID, author=bot_user(),
                     content="GitHub Actions, given your 2,000 free minutes.")
    answer["message_reference"] = {"message_id": question["id"], "channel_id": CHANNEL_ID}
    fake.messages[answer_id] = answer
    reply = said(f"<@{BOT_ID}> and if we self-host the runners?")
    reply["type"] = 19
    reply["message_reference"] = {"message_id": answer_id, "channel_id": CHANNEL_ID,
                                  "guild_id": GUILD_ID}
    reply["referenced_message"] = answer
    await fake.user_message(reply)
    await _answered_in(stack, reply["id"])
    prompt = _prompt(stack)
    assert CHAIN_HEADER in prompt
    assert "heavy: GitHub Actions, given your 2,000 free minutes." in prompt
    assert "Which CI is cheapest for us?" in prompt  # followed up the chain, fetched over REST


async def test_a_reply_to_someone_else_gets_no_chain(stack: Stack) -> None:
    fake = stack.fake
    other = said("I like tabs.", author=BOB, mention=False)
    fake.messages[other["id"]] = other
    reply = said(f"<@{BOT_ID}> is that true?")
    reply["type"] = 19
    reply["message_reference"] = {"message_id": other["id"], "channel_id": CHANNEL_ID}
    reply["referenced_message"] = other
    await fake.user_message(reply)
    await _answered_in(stack, reply["id"])
    assert CHAIN_HEADER not in _prompt(stack)


# -- 4. Regenerate / Go deeper -----------------------------------------------------------------

def _press(fake: Any, thread: str, message_id: str, custom_id: str, uid: str) -> dict[str, Any]:
    press = interaction({"custom_id": custom_id, "component_type": 2}, kind=3, uid=uid,
                        channel=thread, message=fake.messages[message_id])
    press["channel"] = thread_channel(thread, CHANNEL_ID, "a question")
    return press


async def test_buttons_under_the_answer_rerun_for_the_asker_only(stack: Stack) -> None:
    fake, llm = stack.fake, stack.llm
    msg = said(f"<@{BOT_ID}> Is SQLite enough for 50 users?")
    await fake.user_message(msg)
    thread = msg["id"]
    answer = await _answered_in(stack, thread)
    buttons = _buttons(answer)
    assert [b["label"] for b in buttons] == ["Regenerate", "Go deeper"]
    regen, deeper = (b["custom_id"] for b in buttons)
    assert regen.startswith("heavy:regenerate:") and deeper.startswith("heavy:deeper:")
    job_id = regen.rsplit(":", 1)[1]
    assert deeper == f"heavy:deeper:{job_id}"  # only the job id travels
    answer_msg = [c for c in message_posts(fake, thread) if _buttons(c.body)][-1].response["id"]

    # Someone else: an ephemeral refusal, no run.
    calls = len(llm.calls())
    fake.calls.clear()
    await fake.interact(_press(fake, thread, answer_msg, regen, BOB))
    [said_no] = await fake.wait_call("POST", rf"/webhooks/{APP_ID}/[^/]+")
    assert "Only the person who asked" in said_no.body["content"]
    assert said_no.body["flags"] == 64
    await stack.drain()
    assert len(llm.calls()) == calls and not message_posts(fake, thread)

    # The asker, Go deeper: a new run in the same thread with twice the agents.
    await fake.interact(_press(fake, thread, answer_msg, deeper, ALICE))
    body = await _answered_in(stack, thread)
    new_id = _buttons(body)[0]["custom_id"].rsplit(":", 1)[1]  # the new answer's own buttons
    assert new_id != job_id
    prompt = _prompt(stack)
    assert "# First answer" in prompt and "Is SQLite enough for 50 users?" in prompt
    new_job = await stack.runner.get_job(new_id)
    assert new_job is not None and new_job.spec.flags["agents"] == 4  # 2 agents ran first
    assert new_job.spec.user == ALICE and new_job.spec.thread == thread


async def test_a_forged_button_for_another_channel_is_refused(stack: Stack) -> None:
    fake, llm = stack.fake, stack.llm
    dm = said("What is a B-tree?", channel=DM_CHANNEL, mention=False, guild=None)
    await fake.user_message(dm)
    answer = await _answered_in(stack, DM_CHANNEL)
    job_id = _buttons(answer)[0]["custom_id"].rsplit(":", 1)[1]
    answer_msg = [c for c in message_posts(fake, DM_CHANNEL) if _buttons(c.body)][-1]
    # The same job id on a button pressed in a server thread (a copied or forged custom id),
    # also as after a restart: no view is stored, the custom id alone routes the press.
    fake.messages[answer_msg.response["id"]]["channel_id"] = CHANNEL_ID
    calls = len(llm.calls())
    fake.calls.clear()
    thread = await fake.open_thread()
    await fake.interact(_press(fake, thread, answer_msg.response["id"],
                               f"heavy:regenerate:{job_id}", ALICE))
    [refusal] = await fake.wait_call("POST", rf"/webhooks/{APP_ID}/[^/]+")
    assert "no longer known" in refusal.body["content"] and refusal.body["flags"] == 64
    await stack.drain()
    assert len(llm.calls()) == calls


# -- 5. who may ask ----------------------------------------------------------------------------

async def test_a_blocked_member_gets_one_short_refusal_and_no_llm_call(stack: Stack) -> None:
    fake = stack.fake
    scope = Scope("discord", GUILD_ID, CHANNEL_ID)
    await stack.settings.set(scope, {"block_users": [ALICE]}, actor="test")
    try:
        msg = said(f"<@{BOT_ID}> What is 2+2?")
        await fake.user_message(msg)
        [refusal] = await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages")
        assert "blocked" in refusal.body["content"]
        await stack.drain()
        assert len(stack.llm.calls()) == 0
        assert not fake.find("POST", r"/channels/\d+/messages/\d+/threads")
    finally:
        await stack.settings.unset(scope, ["block_users"], actor="test")


async def test_allow_roles_lets_members_with_the_role_ask(stack: Stack) -> None:
    fake = stack.fake
    scope = Scope("discord", GUILD_ID, CHANNEL_ID)
    await stack.settings.set(scope, {"allow_roles": [ROLE_ID]}, actor="test")
    try:
        outsider = said(f"<@{BOT_ID}> may I?")
        await fake.user_message(outsider)
        [refusal] = await fake.wait_call("POST", rf"/channels/{CHANNEL_ID}/messages")
        assert "only people or roles an admin has allowed" in refusal.body["content"]
        assert len(stack.llm.calls()) == 0
        member = said(f"<@{BOT_ID}> and me?")
        member["member"]["roles"] = [ROLE_ID]
        await fake.user_message(member)
        # Answered: the runner's own check (at submit, from JobSpec.roles) let the role in.
        await _answered_in(stack, member["id"])
        assert stack.llm.calls("decompose")
    finally:
        await stack.settings.unset(scope, ["allow_roles"], actor="test")


async def test_heavy_config_set_edits_the_access_lists(stack: Stack) -> None:
    from .helpers import MOD
    fake = stack.fake
    options = [{"name": "block_users", "type": 3, "value": f"{BOB}, <@{ALICE}>"}]
    payload = interaction({"id": "2", "name": "heavy-config", "type": 1, "options": [
        {"name": "set", "type": 1, "options": options}]}, kind=2, uid=MOD)
    await fake.interact(payload)
    [saved] = await fake.wait_call("POST", rf"/webhooks/{APP_ID}/[^/]+")
    assert "block_users" in saved.body["content"]
    scope = Scope("discord", GUILD_ID, CHANNEL_ID)
    resolved = await stack.settings.resolve("discord", GUILD_ID, CHANNEL_ID)
    assert resolved.config.access.channel.block_users == [BOB, ALICE]
    await stack.settings.unset(scope, ["block_users"], actor="test")


# -- 6. install contexts and help --------------------------------------------------------------

async def test_commands_declare_where_they_may_be_used(stack: Stack) -> None:
    commands = {c["name"]: c for c in stack.fake.commands["global"]}
    assert sorted(commands["heavy"]["contexts"]) == [0, 1, 2]  # server, bot DM, group DM
    assert sorted(commands["heavy"]["integration_types"]) == [0, 1]  # server and user installs
    assert commands["heavy-config"]["contexts"] == [0]
    assert commands["heavy-config"]["integration_types"] == [0]


async def test_heavy_help_shows_the_help_only_to_the_asker(stack: Stack) -> None:
    fake = stack.fake
    payload = interaction({"id": "1", "name": "heavy", "type": 1, "options": [
        {"name": "question", "type": 3, "value": "help"}]}, kind=2)
    await fake.interact(payload)
    [reply] = await fake.wait_call("POST", r"/interactions/\d+/[^/]+/callback")
    assert reply.body["type"] == 4 and reply.body["data"]["flags"] == 64
    content = reply.body["data"]["content"]
    assert "Regenerate" in content and "/heavy-config" in content and len(content) <= 2000
    assert len(stack.llm.calls()) == 0
