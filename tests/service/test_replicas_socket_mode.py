"""Slack Socket Mode on three `heavy serve` replicas sharing one real (throwaway) PostgreSQL.

Each replica opens its own WebSocket; the fake Slack delivers each envelope to one connection,
in turn, and one mention on two connections at once (Slack's retry). Once every envelope is
acked, the replica that started the last job is killed with -9 the moment Slack has accepted
that job's card, before the answer to that post reaches the replica (so its ledger never
records the card): the job is in PostgreSQL, another replica resumes it, finds the card by its
metadata tag in the thread and edits it instead of posting a second one. Meanwhile a survivor is frozen (SIGSTOP) when an envelope reaches
it: Slack gets no ack and retries it on the other connection; woken, the frozen one reads the
stale envelope too. Every mention is answered exactly once, in its own thread.

Each replica has its own app and bot token (test markers, not a deployment need), so the fake
can tell which process opened a connection and which one posted or edited a message.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from heavy_engine.cli import main
from heavy_engine.testing import FakeLLM, held_reply
from tests.bots.slack.fake_slack import FakeSlack
from tests.bots.slack.test_mentions import mention
from tests.bots.slack.test_socket_mode import envelope

from .test_replicas import _env
from .test_serve import START_WITHIN, Server, servers  # noqa: F401

pytest.importorskip("procrastinate")
REPLICAS = 3
MENTIONS = 8  # the 7th is delivered twice, the 8th to a frozen replica and retried


async def test_socket_mode_on_three_replicas_answers_every_mention_once(
        tmp_path: Path, pg_url: str, servers: list[Server]) -> None:  # noqa: F811
    assert await asyncio.to_thread(main, ["db", "upgrade", "--database-url", pg_url]) == 0
    slack = await FakeSlack(ack_within=1.0).start()  # Slack's 3 s, shortened
    bots = [f"xoxb-0000-replica-{n}" for n in range(REPLICAS)]
    try:
        async with FakeLLM(latency=0.3) as fake:
            # Agents' answers wait until the victim is dead: no question is answered before
            # the kill however slow the machine (each answers at once afterwards).
            agents = asyncio.Event()
            fake.enqueue(*[held_reply(agents)] * 40, when="agent")
            # 8 s before a silent worker's jobs move: the frozen replica below (a few
            # seconds on a loaded machine) keeps its own.
            base = {**_env(tmp_path, pg_url, fake), "SLACK_API_URL": slack.api_url,
                    "SLACK_STREAMING": "0", "HEAVY_WORKER_STALLED_AFTER": "8"}
            replicas = [Server(tmp_path, {**base, "SLACK_APP_TOKEN": f"xapp-1-replica-{n}",
                                          "SLACK_BOT_TOKEN": bots[n]}) for n in range(REPLICAS)]
            servers.extend(replicas)  # each is killed at the end, whichever failed to start
            await asyncio.gather(*(r.start() for r in replicas))
            await slack.wait_for(lambda: len(slack.open_connections()) == REPLICAS,
                                 within=START_WITHIN)
            # One channel and one asker per mention: no limit makes any of them wait.
            stamps = [f"17000002{i:02d}.000100" for i in range(MENTIONS)]
            events = [mention(f"<@U0BOT> Question {i}: SQLite or PostgreSQL?",
                              event_id=f"Ev0SOCKET{i:02d}", ts=ts, channel=f"C0CHAN{i}",
                              user=f"U0USER{i}") for i, ts in enumerate(stamps)]
            # Slack accepts each post and answers it 0.3 s later: a replica killed meanwhile
            # leaves a card its ledger never recorded.
            slack.linger["chat.postMessage"] = 0.3
            for i, event in enumerate(events[:-2]):
                await slack.push(envelope(f"env-{i}", event))
            first, second = await slack.push_twice(envelope("env-twice", events[-2]))
            assert first != second
            await slack.wait_for(lambda: all(sorted(c.acked) == sorted(c.received)
                                             for c in slack.connections), within=30)
            await slack.wait_for(lambda: all(
                slack.called("chat.postMessage", thread_ts=ts) for ts in stamps[:-1]), within=60)
            # The replica that posted the last card has just started that job, and waits for
            # Slack's answer to that post: kill it now.
            last_card = slack.called("chat.postMessage")[-1]
            victim = bots.index(str(last_card.token))
            replicas[victim].kill(signal.SIGKILL)
            assert await replicas[victim].wait() == -signal.SIGKILL
            del slack.linger["chat.postMessage"]
            assert fake.calls("synthesis") == []  # killed mid-run, before any answer
            agents.set()
            # Frozen for a second or two: well under HEAVY_WORKER_STALLED_AFTER, so its own jobs
            # stay its own; only the envelope it could not ack goes elsewhere.
            frozen = next(n for n in range(REPLICAS) if n != victim)
            [frozen_conn] = [c for c in slack.connections
                             if c.token == f"xapp-1-replica-{frozen}"]
            replicas[frozen].kill(signal.SIGSTOP)
            await slack.push(envelope("env-frozen", events[-1]), to=frozen_conn.number)
            await slack.wait_for(lambda: slack.called("socket.ack", envelope_id="env-frozen-retry1"),
                                 within=30)
            replicas[frozen].kill(signal.SIGCONT)
            await slack.wait_for(lambda: len(slack.called(
                "reactions.add", name="white_check_mark")) >= MENTIONS, within=90)
            await asyncio.sleep(0.5)  # nothing more arrives after the last answer
            for survivor in (r for n, r in enumerate(replicas) if n != victim):
                survivor.kill(signal.SIGTERM)
                assert await survivor.wait() == 0
    finally:
        await slack.aclose()

    # Slack's delivery: every replica got envelopes, and acked each on its own connection.
    assert sorted(str(c.token) for c in slack.connections) == [
        f"xapp-1-replica-{n}" for n in range(REPLICAS)]
    assert all(c.received and sorted(c.acked) == sorted(c.received) for c in slack.connections)
    [retried] = slack.called("socket.ack", envelope_id="env-frozen-retry1")
    assert retried.args["connection"] != frozen_conn.number
    assert "env-frozen" in frozen_conn.acked  # late, once woken
    assert len(fake.calls("synthesis")) == MENTIONS  # each question answered by the model once
    for i, ts in enumerate(stamps):
        assert len(slack.called("reactions.add", name="white_check_mark", timestamp=ts)) == 1
        [card, answer] = slack.called("chat.postMessage", thread_ts=ts)
        assert f"Question {i}" in answer.args["text"], answer.args["text"]
        final = slack.called("chat.update", ts=card.ts)[-1]
        assert final.args["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")
    # The killed replica's job: its unrecorded card was found in the thread by its tag and
    # edited by another replica, not posted again.
    resumed = slack.called("chat.update", ts=last_card.ts)[-1]
    assert resumed.token != last_card.token
    assert [c for c in slack.called("conversations.replies", ts=last_card.args["thread_ts"])
            if c.token == resumed.token]
