"""Scenario: Socket Mode (SLACK_APP_TOKEN): the same listeners over a WebSocket, acked per
envelope, with the same deduplication of Slack's retries."""

from __future__ import annotations

from typing import Any

from .conftest import MakeSlack
from .test_mentions import MENTION_TS, mention


async def test_socket_mode_answers_a_mention_once(make_slack: MakeSlack) -> None:
    slack = await make_slack(socket_mode=True)
    fake = slack.fake
    await fake.wait_for(lambda: fake.called("socket.connect"))
    assert fake.called("apps.connections.open")
    # Slack's retry of an event arrives on the only connection there is.
    assert await fake.push_twice(envelope("env-1", mention())) == (0, 0)
    [conn] = fake.connections
    await fake.wait_for(lambda: len(conn.acked) == 2)
    assert conn.acked == conn.received == ["env-1", "env-1-retry1"]
    await fake.wait_for(lambda: fake.called("reactions.add", name="white_check_mark"))
    await slack.settle()
    assert len(fake.called("chat.postMessage", thread_ts=MENTION_TS)) == 2  # one answer


# -- payloads ---------------------------------------------------------------------------------


def envelope(envelope_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An Events API payload as Socket Mode wraps it (a first attempt: `push_twice` retries)."""
    return {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }
