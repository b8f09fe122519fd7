"""Slack across real processes on a real (throwaway) PostgreSQL: a `--role web` replica takes
the signed events, a worker runs the jobs and delivers them through the reply ledger, and is
killed with -9 mid-run; a second worker resumes the jobs: every mention is answered exactly once.
The fake Slack Web API runs in this process on 127.0.0.1, so the children reach it over HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from heavy_engine.cli import main
from heavy_engine.testing import FakeLLM, held_reply
from tests.bots.slack.fake_slack import FakeSlack
from tests.bots.slack.test_mentions import mention

from .test_replicas import _env
from .test_serve import START_WITHIN, Server, servers  # noqa: F401

pytest.importorskip("procrastinate")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MENTIONS = 4


async def _event(url: str, payload: dict[str, object]) -> int:
    body = json.dumps(payload)
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                   timestamp=ts, body=body)}
    async with aiohttp.ClientSession() as s, s.post(f"{url}/slack/events", data=body,
                                                    headers=headers) as resp:
        return resp.status


async def test_kill_9_of_a_worker_answers_every_slack_mention_once(
        tmp_path: Path, pg_url: str, servers: list[Server]) -> None:  # noqa: F811
    assert await asyncio.to_thread(main, ["db", "upgrade", "--database-url", pg_url]) == 0
    fake_slack = await FakeSlack().start()
    try:
        async with FakeLLM(latency=0.3) as fake:
            # Agents' answers wait until the worker is dead: killed mid-run however slow the
            # machine (each answers at once afterwards; more than enough are queued).
            agents = asyncio.Event()
            fake.enqueue(*[held_reply(agents)] * 20, when="agent")
            env = {**_env(tmp_path, pg_url, fake), "SLACK_BOT_TOKEN": "xoxb-0000-test-never-real",
                   "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake_slack.api_url,
                   "SLACK_STREAMING": "0"}
            web = Server(tmp_path, env, "--role", "web")
            doomed = Server(tmp_path, env, "--role", "worker")
            servers.extend([web, doomed])
            await asyncio.gather(web.start(), doomed.start())  # start-up is mostly imports
            stamps = [f"17000001{i:02d}.000100" for i in range(MENTIONS)]
            for i, ts in enumerate(stamps):
                assert await _event(web.url, mention(
                    event_id=f"Ev0KILL{i:02d}", ts=ts, user=f"U0USER{i}",
                    text=f"<@U0BOT> Question {i}: SQLite or PostgreSQL?")) == 200
            # Every card is on Slack, then the worker dies mid-run, before any answer.
            await fake_slack.wait_for(lambda: all(
                fake_slack.called("chat.postMessage", thread_ts=ts) for ts in stamps),
                within=START_WITHIN)
            await fake.wait_for(lambda f: len(f.calls("agent")) >= 2, within=START_WITHIN)
            # Recorded in the ledger or not yet: the survivor finds each card by its tag.
            doomed.kill(signal.SIGKILL)
            assert await doomed.wait() == -signal.SIGKILL
            assert fake.calls("synthesis") == []
            assert not fake_slack.called("reactions.add", name="white_check_mark")
            agents.set()
            survivor = await Server(tmp_path, env, "--role", "worker").start()
            servers.append(survivor)
            await fake_slack.wait_for(lambda: len(fake_slack.called(
                "reactions.add", name="white_check_mark")) >= MENTIONS, within=90)
            await asyncio.sleep(0.5)  # nothing more arrives after the last answer
            survivor.kill(signal.SIGTERM)
            web.kill(signal.SIGTERM)
            assert await survivor.wait() == 0
            assert await web.wait() == 0
    finally:
        await fake_slack.aclose()

    assert len(fake.calls("synthesis")) == MENTIONS  # each question answered by the model once
    for i, ts in enumerate(stamps):
        assert len(fake_slack.called("reactions.add", name="white_check_mark",
                                     timestamp=ts)) == 1
        posts = fake_slack.called("chat.postMessage", thread_ts=ts)
        # The card posted by the dead worker is edited by the survivor, not posted again.
        [card, answer] = posts
        assert f"Question {i}" in answer.args["text"], answer.args["text"]
        final = fake_slack.called("chat.update", ts=card.ts)[-1].args
        assert final["blocks"][0]["text"]["text"].startswith(":white_check_mark: *Done*")
