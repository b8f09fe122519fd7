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
    await fake.push(envelope("env-1", mention()))
    await fake.push(envelope("env-2", mention(), retry_attempt=1))  # Slack's retry
    await fake.wait_for(lambda: len(fake.socket_acks) == 2)
    assert [a["envelope_id"] for a in fake.socket_acks] == ["env-1", "env-2"]
    await fake.wait_for(lambda: fake.called("reactions.add", name="white_check_mark"))
    await slack.settle()
    assert len(fake.called("chat.postMessage", thread_ts=MENTION_TS)) == 2  # one answer


# -- payloads ---------------------------------------------------------------------------------


def envelope(envelope_id: str, payload: dict[str, Any], retry_attempt: int = 0) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": "timeout" if retry_attempt else "",
    }
