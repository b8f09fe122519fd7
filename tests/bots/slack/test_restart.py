"""Scenario: the durable job runner underneath: restarts, queueing and replies kept in the
database so a resumed job edits its messages instead of posting twice."""

from __future__ import annotations

import asyncio

from heavy_engine.testing import FakeLLM, fake_config, text_reply

from .conftest import MakeSlack
from .test_delivery import stop_click
from .test_mentions import MENTION_TS, mention, message_event


async def test_a_job_resumed_after_a_restart_edits_the_same_card_and_answers_once(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=2)
    first = await make_slack(config, durable=True)
    fake_llm.latency = 0.3
    await first.event(mention())
    [card] = await first.fake.wait_for(
        lambda: first.fake.called("chat.postMessage", thread_ts=MENTION_TS))
    # The card's ts reaches the database (a crash before that point is unavoidable and would
    # post a second card, never a second answer).
    await first.fake.wait_for(lambda: any(
        j.reply.get("card") for j in first.runner.backend._running.values()))
    await first.runner.shutdown(0)  # the process dies mid-run
    assert not first.fake.called("reactions.add", name="white_check_mark")

    fake_llm.latency = 0.0
    second = await make_slack(config, durable=True)  # picks the job up again
    await second.fake.wait_for(
        lambda: second.fake.called("reactions.add", name="white_check_mark"), within=10)
    await second.settle()
    posts = second.fake.called("chat.postMessage", thread_ts=MENTION_TS)
    assert [p.ts for p in posts[:1]] == [card.ts] and len(posts) == 2  # one card, one answer
    final_card = second.fake.called("chat.update", ts=card.ts)[-1].args
    assert final_card["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")


async def test_a_restart_while_posting_a_long_answer_posts_each_part_once(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=2)
    first = await make_slack(config, durable=True)
    fake_llm.enqueue(text_reply(LONG_ANSWER), when="synthesis")
    # The card, the streamed answer and the second part get through; the process dies while
    # posting the third.
    first.fake.hold["chat.postMessage"] = 3

    def parts(name: str) -> list[object]:
        return [c for c in first.fake.called("chat.postMessage", thread_ts=MENTION_TS)
                if name in first.fake.shown(c.args)]

    await first.event(mention())
    await first.fake.wait_for(lambda: parts("Part B"))
    await asyncio.sleep(0.3)  # the third part is on its way, and hangs
    await first.runner.shutdown(0)
    del first.fake.hold["chat.postMessage"]

    second = await make_slack(config, durable=True)  # replays the stored result
    await second.fake.wait_for(
        lambda: second.fake.called("reactions.add", name="white_check_mark"), within=10)
    await second.settle()
    assert len(parts("Part B")) == 1 and len(parts("Part C")) == 1


async def test_a_queued_question_says_so_and_the_card_replaces_the_note(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=1, limits={"max_concurrent_jobs": 1})
    slack = await make_slack(config, durable=True)
    fake_llm.latency = 0.1
    await slack.event(mention())
    await slack.event(mention(event_id="Ev0MENTION02", ts="1700000500.000100",
                              user="U0BOB"))
    await slack.settle()
    [note, _answer] = slack.fake.called("chat.postMessage", thread_ts="1700000500.000100")
    assert note.args["text"] == ":hourglass: Queued: this question is next."
    assert note.args["blocks"][-1]["elements"][0]["action_id"] == "heavy_stop"
    edits = slack.fake.called("chat.update", ts=note.ts)
    assert edits[-1].args["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")


async def test_a_job_starting_while_its_queued_note_is_posted_leaves_no_stale_note(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=1, limits={"max_concurrent_jobs": 1})
    slack = await make_slack(config, durable=True)
    fake_llm.latency = 0.1
    slack.fake.text_delays["Queued"] = 1.5  # the slot frees while the note is on its way
    await slack.event(mention())
    queued_ts = "1700000500.000100"
    await slack.event(mention(event_id="Ev0MENTION02", ts=queued_ts, user="U0BOB"))
    await slack.settle()
    deleted = {c.args["ts"] for c in slack.fake.called("chat.delete")}
    for post in slack.fake.called("chat.postMessage", thread_ts=queued_ts):
        if post.ts in deleted:
            continue
        last = [post, *slack.fake.called("chat.update", ts=post.ts)][-1].args
        # No stale Stop button (an answer's Regenerate / Go deeper buttons are fine).
        stops = [e for b in last.get("blocks") or [] if b["type"] == "actions"
                 for e in b["elements"] if e.get("action_id") == "heavy_stop"]
        assert not stops, last["text"]


async def test_stop_on_a_queued_note_ends_it_there(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    # A job stopped while queued never reaches the delivery: the note itself shows the end.
    config = fake_config(fake_llm.base_url, agents=1, limits={"max_concurrent_jobs": 1})
    slack = await make_slack(config, durable=True)
    fake_llm.latency = 0.3
    await slack.event(mention())
    queued_ts = "1700000500.000100"
    await slack.event(mention(event_id="Ev0MENTION02", ts=queued_ts, user="U0BOB"))
    [note] = await slack.fake.wait_for(
        lambda: slack.fake.called("chat.postMessage", thread_ts=queued_ts))
    button = note.args["blocks"][-1]["elements"][0]
    click = stop_click(button["value"], note.ts or "", "U0BOB")
    click["message"]["thread_ts"] = click["container"]["thread_ts"] = queued_ts
    await slack.interaction(click)
    await slack.settle()
    last = slack.fake.called("chat.update", ts=note.ts)[-1].args
    assert last["text"].startswith(":octagonal_sign: Stopped")
    assert "actions" not in [b["type"] for b in last["blocks"]]
    assert slack.fake.called("reactions.remove", name="hourglass_flowing_sand",
                             timestamp=queued_ts)
    assert slack.fake.called("reactions.add", name="octagonal_sign", timestamp=queued_ts)
    assert len(slack.fake.called("chat.postMessage", thread_ts=queued_ts)) == 1  # no answer


async def test_follow_policy_remembers_answered_threads_across_a_restart(
    make_slack: MakeSlack, fake_llm: FakeLLM
) -> None:
    config = fake_config(fake_llm.base_url, agents=1, thread_policy="follow")
    first = await make_slack(config, durable=True)
    await first.event(mention())  # answered in MENTION_TS's thread
    await first.settle()
    await first.runner.shutdown(0)

    second = await make_slack(config, durable=True)  # a new process: nothing in memory
    reply = message_event("and what about backups?", event_id="Ev0FOLLOWR",
                          ts="1700000300.000100", thread_ts=MENTION_TS)
    await second.event(reply)
    await second.settle()
    await second.fake.wait_for(lambda: second.fake.called(
        "reactions.add", name="white_check_mark", timestamp="1700000300.000100"), within=10)
    # ...while a thread it never answered in stays quiet.
    other = message_event("unrelated", event_id="Ev0FOLLOWX", ts="1700000400.000100",
                          thread_ts="1699999999.000100")
    await second.event(other)
    await second.settle()
    assert not second.fake.called("chat.postMessage", thread_ts="1699999999.000100")


# -- payloads ---------------------------------------------------------------------------------

# Three paragraphs of ~8,100 characters: one message each (Slack's markdown takes 12,000).
LONG_ANSWER = "\n\n".join(f"Part {p}. " + "A finding worth reporting. " * 300 for p in "ABC")
