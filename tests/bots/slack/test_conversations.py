"""Issue 14 on Slack, through the real Bolt app: files (downloaded with the bot token), DMs
that remember, Regenerate / Go deeper, who may ask, /heavy help and the modal's access fields."""

from __future__ import annotations

from typing import Any

from bots.slack._modal import ModalTarget, config_modal, submitted_values
from heavy_engine import HeavyConfig
from heavy_engine.conversations import DM_HEADER
from heavy_engine.settings import Scope
from heavy_engine.testing import FakeLLM, fake_config

from .conftest import TOKEN, MakeSlack, Slack
from .fake_slack import BOT_USER, TEAM
from .test_commands import heavy_command, modal_submission
from .test_delivery import stop_click
from .test_mentions import DM_TS, MENTION_TS, mention, message_event

DM = "D0ALICE"


async def _llm_slack(make_slack: MakeSlack, fake_llm: FakeLLM) -> Slack:
    slack = await make_slack(fake_config(fake_llm.base_url, agents=2))
    slack.fake.files_token = TOKEN  # the workspace's bot token opens its files
    return slack


def _prompt(llm: FakeLLM) -> str:
    return str(llm.calls("decompose")[-1].body)


def _answers(slack: Slack, thread: str) -> list[dict[str, Any]]:
    """The final state of each answer message in `thread` (those with the buttons)."""
    out = []
    for post in slack.fake.called("chat.postMessage", thread_ts=thread):
        last = [post, *slack.fake.called("chat.update", ts=post.ts)][-1].args
        if any(b.get("block_id") == "heavy_followups" for b in last.get("blocks") or []):
            out.append(last)
    return out


def _buttons(answer: dict[str, Any]) -> dict[str, str]:
    [block] = [b for b in answer["blocks"] if b.get("block_id") == "heavy_followups"]
    return {e["action_id"]: e["value"] for e in block["elements"]}


# -- 1. files ----------------------------------------------------------------------------------

async def test_a_mention_with_files_reads_them_with_the_bot_token(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    payload = mention(f"<@{BOT_USER}> What broke last night?")
    payload["event"]["files"] = [
        slack.fake.share_file("night.log", b"ERROR payments: timeout talking to the bank\n"),
        slack.fake.share_file("dump.bin", b"\x00\x01", "application/octet-stream"),
    ]
    await slack.event(payload)
    await slack.settle()
    prompt = _prompt(fake_llm)
    assert "ERROR payments: timeout talking to the bank" in prompt  # given to every agent
    assert "night.log" in prompt
    [download] = slack.fake.downloads  # the unsupported file was not even downloaded
    assert download == (f"/files-pri/{TEAM}-F0000001/download/night.log", f"Bearer {TOKEN}")
    [answer] = _answers(slack, MENTION_TS)
    assert "skipped dump.bin: unsupported type" in answer["text"]


async def test_a_dm_file_share_without_the_files_scope_is_named_and_still_answered(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    slack.fake.files_token = "xoxb-another-token"  # ours is refused: Slack's sign-in page
    payload = message_event("summarise this please", channel=DM, channel_type="im",
                            subtype=None)
    payload["event"]["subtype"] = "file_share"
    payload["event"]["files"] = [slack.fake.share_file("plan.md", b"# Plan\nShip Friday.")]
    await slack.event(payload)
    await slack.settle()
    assert "Ship Friday." not in _prompt(fake_llm)
    [answer] = _answers(slack, DM_TS)
    shown = slack.fake.shown(answer)  # the answer's markdown blocks (text is the short fallback)
    assert "skipped plan.md: download failed" in shown
    assert "files:read" in shown


# -- 2. DMs remember ---------------------------------------------------------------------------

async def test_a_top_level_dm_keeps_the_last_exchanges_of_that_dm(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    await slack.event(message_event("Our stack is Elixir and Postgres.", channel=DM,
                                    channel_type="im"))
    await slack.settle()
    assert DM_HEADER not in _prompt(fake_llm)  # nothing before the first question
    await slack.event(message_event("Which queue should we add?", channel=DM,
                                    channel_type="im", event_id="Ev0MESSAGE02",
                                    ts="1700000300.000100"))
    await slack.settle()
    prompt = _prompt(fake_llm)
    assert DM_HEADER in prompt
    assert "User: Our stack is Elixir and Postgres." in prompt
    assert "heavy: " in prompt  # and heavy's answer to it
    assert not slack.fake.called("conversations.replies")  # from heavy's own record


# -- 4. Regenerate / Go deeper -----------------------------------------------------------------

def _press(action_id: str, job_id: str, user: str) -> dict[str, Any]:
    click = stop_click(job_id, MENTION_TS, user)
    click["actions"][0].update(action_id=action_id, block_id="heavy_followups", value=job_id,
                               action_ts="1700000901.000100")
    return click


async def test_go_deeper_reruns_for_the_asker_and_refuses_anyone_else(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    await slack.event(mention())
    await slack.settle()
    [answer] = _answers(slack, MENTION_TS)
    buttons = _buttons(answer)
    job_id = buttons["heavy_deeper"]
    assert buttons == {"heavy_regenerate": job_id, "heavy_deeper": job_id}  # only the job id

    calls = len(fake_llm.calls())
    await slack.interaction(_press("heavy_regenerate", job_id, "U0BOB"))
    await slack.settle()
    [refusal] = slack.fake.called("chat.postEphemeral", user="U0BOB")
    assert "Only the person who asked" in refusal.args["text"]
    assert len(fake_llm.calls()) == calls  # no run

    await slack.interaction(_press("heavy_deeper", job_id, "U0ALICE"))
    await slack.settle()
    assert "# First answer" in _prompt(fake_llm)
    answers = _answers(slack, MENTION_TS)
    assert len(answers) == 2  # the new answer, in the same thread, with its own buttons
    new = await slack.runner.get_job(_buttons(answers[-1])["heavy_deeper"])
    assert new is not None and new.spec.flags["agents"] == 4 and new.spec.user == "U0ALICE"


async def test_a_forged_button_value_is_refused_by_the_job_record(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    await slack.interaction(_press("heavy_regenerate", "no-such-job", "U0ALICE"))
    await slack.settle()
    [refusal] = slack.fake.called("chat.postEphemeral", user="U0ALICE")
    assert "no longer known" in refusal.args["text"]
    assert not fake_llm.calls()


# -- 5. who may ask ----------------------------------------------------------------------------

async def test_a_blocked_user_gets_one_ephemeral_refusal_and_no_llm_call(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    slack = await _llm_slack(make_slack, fake_llm)
    await slack.settings.set(Scope("slack", TEAM, "C0GENERAL"), {"block_users": ["U0ALICE"]},
                             actor="test")
    payload = mention()
    payload["event"]["files"] = [slack.fake.share_file("a.txt", b"secret")]
    await slack.event(payload)
    await slack.command(heavy_command(slack.fake, "And now?"))
    await slack.settle()
    [refusal] = slack.fake.called("chat.postEphemeral", user="U0ALICE")
    assert "blocked" in refusal.args["text"]
    [said] = slack.fake.responses  # /heavy: an ephemeral response, no public "asked:" post
    assert said["response_type"] == "ephemeral" and "blocked" in said["text"]
    assert not slack.fake.called("chat.postMessage")
    assert not slack.fake.downloads
    assert len(fake_llm.calls()) == 0


def test_the_settings_modal_edits_who_may_ask() -> None:
    view = config_modal(HeavyConfig(), {"allow_users": ["U0ALICE", "discord:1"],
                                        "block_users": []},
                        ModalTarget(TEAM, "C0GENERAL", 0, "C0GENERAL"), [], "#general")
    pickers = {b["block_id"]: b["element"] for b in view["blocks"]
               if b.get("block_id") in ("allow_users", "block_users")}
    assert pickers["allow_users"]["type"] == "multi_users_select"
    assert pickers["allow_users"]["initial_users"] == ["U0ALICE"]  # other platforms' ids hidden
    assert "initial_users" not in pickers["block_users"]
    state = {"allow_users": {"allow_users": {"type": "multi_users_select",
                                             "selected_users": ["U0ALICE", "U0BOB"]}},
             "block_users": {"block_users": {"type": "multi_users_select",
                                             "selected_users": []}}}
    values = submitted_values(state)
    assert values["allow_users"] == ["U0ALICE", "U0BOB"] and values["block_users"] == []


async def test_saving_the_modal_stores_who_may_ask_with_an_audit_entry(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    submission = modal_submission(user="U0ADMIN")
    values = submission["view"]["state"]["values"]
    values["allow_users"] = {"allow_users": {"type": "multi_users_select",
                                             "selected_users": ["U0ALICE"]}}
    values["block_users"] = {"block_users": {"type": "multi_users_select",
                                             "selected_users": ["U0BOB"]}}
    resp = await slack.interaction(submission)
    assert resp.status == 200 and await resp.text() == ""
    scope = Scope("slack", TEAM, "C0GENERAL")
    stored = await slack.settings.get(scope)
    assert stored.values["allow_users"] == ["U0ALICE"]
    assert stored.values["block_users"] == ["U0BOB"]
    [entry] = await slack.settings.history(scope)
    assert entry.by == "slack:U0ADMIN"
    await slack.settle()


# -- 6. help -----------------------------------------------------------------------------------

async def test_heavy_help_answers_only_the_asker(slack: Slack) -> None:
    await slack.command(heavy_command(slack.fake, "help"))
    await slack.settle()
    [reply] = slack.fake.responses
    assert reply["response_type"] == "ephemeral"
    assert "Regenerate" in reply["text"] and "/heavy-config" in reply["text"]
    assert not slack.fake.called("chat.postMessage")
