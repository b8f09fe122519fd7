"""Hostile requests at `/slack/events` (issue 10, items 4 and 5), over real HTTP against the
real Bolt app: unsigned garbage is 401 before anything parses it, signed garbage is 400, and a
modal submission with forged `private_metadata` is refused under a field, never 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from heavy_engine.settings import Scope

from .conftest import SECRET, Slack
from .fake_slack import TEAM

DEEP = 100_000  # nesting that makes json.loads raise RecursionError


def _signature(body: bytes, ts: str, secret: str = SECRET) -> str:
    base = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def _raw(slack: Slack, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    resp = await slack.http.post("/slack/events", data=body, headers=headers)
    return resp.status, await resp.text()


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# (body, content type): bodies that once reached a parser; each row is what a scanner sends.
GARBAGE: list[tuple[bytes, str]] = [
    (b'{"type": "event_callback", "event": ', JSON),  # truncated JSON
    (b"[1, 2, 3]", JSON),  # a JSON array, not an object
    (b"[" * DEEP + b"]" * DEEP, JSON),  # deep nesting
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, JSON),  # deep objects
    (b"payload=%7Bnot-json", FORM),  # a form whose payload is not JSON
    (b"payload=%5B1%2C2%5D", FORM),  # a form whose payload is an array
    (b"payload=" + b"%5B" * 20_000, FORM),  # a form payload nested deep
    (b"\xff\xfe{\x00", JSON),  # not UTF-8
    (b"null", JSON),
    (b'"just a string"', JSON),
    (b"", JSON),  # empty
]


@pytest.mark.parametrize(("body", "content_type"), GARBAGE)
async def test_unsigned_garbage_is_401(slack: Slack, body: bytes, content_type: str) -> None:
    status, text = await _raw(slack, body, {"Content-Type": content_type})  # no headers
    assert status == 401, text
    ts = str(int(time.time()))
    status, text = await _raw(slack, body, {"Content-Type": content_type,
                                            "X-Slack-Request-Timestamp": ts,
                                            "X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401, text


# (timestamp, signature): header values that broke the check itself.
BAD_HEADERS = [
    ("not-a-number", None),  # int() raises ValueError
    ("1e9", None),
    ("9" * 5000, None),  # over Python's int digit limit
    ("", None),
    (None, "v0=é" + "0" * 63),  # non-ASCII: hmac.compare_digest raises TypeError
    (None, ""),
]


@pytest.mark.parametrize(("timestamp", "signature"), BAD_HEADERS)
async def test_malformed_signature_headers_are_401(slack: Slack, timestamp: str | None,
                                                   signature: str | None) -> None:
    body = b'{"type": "url_verification", "challenge": "x"}'
    ts = timestamp if timestamp is not None else str(int(time.time()))
    sig = signature if signature is not None else _signature(body, str(int(time.time())))
    status, text = await _raw(slack, body, {"Content-Type": JSON,
                                            "X-Slack-Request-Timestamp": ts,
                                            "X-Slack-Signature": sig})
    assert status == 401, text


# Signed with the real secret, but not a Slack request: each is 400, never 500.
SIGNED_GARBAGE: list[tuple[bytes, str]] = [
    *GARBAGE,
    (b'{"type": "event_callback", "event": "a string"}', JSON),  # wrong type inside
    (b'{"type": "event_callback", "event": {"type": 5}, "team_id": []}', JSON),
    (b'{"type": 5}', JSON),
    (b"payload=" + urlencode({"x": 1}).encode(), FORM),  # payload=x%3D1: not JSON
    (("payload=" + urlencode({"": json.dumps({"type": "block_actions", "actions": "no"})})[1:]
      ).encode(), FORM),  # actions is not a list
    (("payload=" + urlencode({"": json.dumps({"type": "view_submission", "view": []})})[1:]
      ).encode(), FORM),  # view is not an object
    (("payload=" + urlencode({"": json.dumps({"type": "block_actions", "user": "U1",
                                               "team": "T1", "channel": 7,
                                               "actions": [{"action_id": "heavy_stop",
                                                            "value": 5}]})})[1:]).encode(),
     FORM),  # user/team/channel not objects, value not a string
    (b"command=%2Fheavy&text=hi", FORM),  # a command with no channel or user
    (b"command=%2Fheavy-config&text=show&team_id=" + TEAM.encode(), FORM),
]


@pytest.mark.parametrize(("body", "content_type"), SIGNED_GARBAGE)
async def test_signed_garbage_is_never_500(slack: Slack, body: bytes, content_type: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    ts = str(int(time.time()))
    with caplog.at_level(logging.DEBUG):
        status, text = await _raw(slack, body, {"Content-Type": content_type,
                                                "X-Slack-Request-Timestamp": ts,
                                                "X-Slack-Signature": _signature(body, ts)})
        await slack.settle()
    # Slack only sends UTF-8, so a body that is not cannot carry its signature: 401.
    assert status in ((401,) if body.startswith(b"\xff") else (200, 400, 404)), (status, text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not slack.fake.called("chat.postMessage")


async def test_a_thousand_unsigned_requests_log_almost_nothing(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    statuses = []
    for i in range(1000):
        body, content_type = GARBAGE[i % len(GARBAGE)]
        status, _ = await _raw(slack, body, {"Content-Type": content_type,
                                             "X-Slack-Request-Timestamp": "ts",
                                             "X-Slack-Signature": "v0=forged"})
        statuses.append(status)
    assert set(statuses) == {401}
    # The access log (one line per request of any kind) is the server's, not ours.
    records = [r for r in caplog.records if r.name != "aiohttp.access"]
    logged = sum(len(r.getMessage()) for r in records)
    print(f"1,000 unsigned requests: {len(records)} log records, {logged} bytes")
    assert all(r.levelno <= logging.DEBUG for r in records), caplog.text[:2000]
    assert len(records) <= 1000 and logged <= 100_000


# -- the config modal's private_metadata (item 5) -----------------------------------------------

def _submission(metadata: Any, user: str = "U0ADMIN") -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": "admin", "name": "admin", "team_id": TEAM},
        "api_app_id": "A0HEAVY",
        "token": "legacy-verification-token",
        "trigger_id": "1234567890.1234567890.abcdef",
        "view": {
            "id": "V0MODAL", "team_id": TEAM, "type": "modal", "callback_id": "heavy_config",
            "private_metadata": metadata, "hash": "1.abc",
            "state": {"values": {"agents": {"agents": {"type": "number_input",
                                                       "value": "3"}}}},
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


FORGED_METADATA: list[Any] = [
    "not json",
    "[]",
    '{"t": "T0TEAM"}',  # keys missing
    '{"t": "T0TEAM", "c": "C0GENERAL", "v": "many", "o": "C0GENERAL"}',  # v not a number
    '{"t": "T0TEAM", "c": "C0GENERAL", "v": 1e400, "o": "C0GENERAL"}',  # v infinite
    '{"t": "T0TEAM", "c": "C0GENERAL", "v": ' + "9" * 5000 + ', "o": "C0GENERAL"}',
    "[" * DEEP,
    '{"t": "T0OTHER", "c": "C0GENERAL", "v": 0, "o": "C0GENERAL"}',  # another workspace
    '{"t": {}, "c": [], "v": 0, "o": null}',
    None,
    "x" * 4000,  # longer than Slack keeps (3,000)
]


async def test_forged_modal_values_are_refused_under_a_field(slack: Slack) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    metadata = '{"t":"T0TEAM","c":"C0GENERAL","v":0,"o":"C0GENERAL"}'
    for values in ({"model": "x"}, {"tools": {"tools": {"selected_options": [5]}}},
                   {"agents": {"agents": "3"}}):
        payload = _submission(metadata)
        payload["view"]["state"]["values"] = values
        resp = await slack.interaction(payload)
        assert resp.status == 200
        assert (await resp.json())["response_action"] == "errors"
    await slack.settle()
    assert not await slack.settings.history(Scope("slack", TEAM, "C0GENERAL"))


@pytest.mark.parametrize("metadata", FORGED_METADATA)
async def test_forged_modal_metadata_is_refused_under_a_field(
    slack: Slack, metadata: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.users["U0ADMIN"] = {"is_admin": True}
    with caplog.at_level(logging.DEBUG):
        resp = await slack.interaction(_submission(metadata))
        await slack.settle()
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["response_action"] == "errors" and answer["errors"], answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not slack.fake.called("chat.postEphemeral")  # no "Saved" confirmation
    for team in (TEAM, "T0OTHER"):
        for channel in ("", "C0GENERAL"):
            assert not await slack.settings.history(Scope("slack", team, channel))
