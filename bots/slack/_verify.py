"""The gate in front of Bolt on `POST /slack/events`. Pure functions.

Order matters: the signature and timestamp are checked on the raw bytes before anything parses
them, so unsigned garbage costs one HMAC and one debug line (401). Only a signed body is parsed,
and one Bolt's listeners could not read (not UTF-8, not JSON, not an object, an object whose
well-known fields have the wrong types) is refused with 400 before it reaches them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

MAX_AGE = 5 * 60  # seconds a signed request stays valid (Slack's rule; Bolt's too)

# Fields Slack sends as objects, lists of objects and strings, in events, slash commands and
# interaction payloads; a signed body holding another type there is not from Slack.
_OBJECTS = ("event", "user", "team", "channel", "container", "message", "view", "enterprise",
            "authorizations")
_LISTS = ("actions", "authorizations")
_STRINGS = ("type", "team_id", "api_app_id", "event_id", "command", "text", "user_id",
            "channel_id", "trigger_id", "response_url", "callback_id", "token")
_EVENT_STRINGS = ("type", "user", "channel", "text", "ts", "thread_ts", "subtype", "bot_id",
                  "channel_type", "tab")  # in the events we listen to (others hold objects)
_OUR_EVENTS = ("message", "app_mention", "app_home_opened")
_ACTION_STRINGS = ("action_id", "block_id", "value", "type")
_VIEW_STRINGS = ("id", "callback_id", "private_metadata", "type", "team_id")
_ID_STRINGS = ("id",)  # inside user, team, channel
_COMMAND_NEEDS = ("team_id", "channel_id", "user_id")


def signed(secret: str, raw: bytes, headers: Mapping[str, str], *, now: float) -> bool:
    """True when `raw` carries a valid, fresh `X-Slack-Signature`; never raises. A body that
    is not UTF-8 is not one Slack signed."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not secret or not signature.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False  # int() would raise on these, and compare_digest on non-ASCII
    if abs(now - int(timestamp)) > MAX_AGE:
        return False
    try:
        body = raw.decode("utf-8")  # what Slack sends and signs; the verifier would raise
    except UnicodeDecodeError:
        return False
    expected = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return expected is not None and hmac.compare_digest(expected, signature)


def bolt_request(raw: bytes, query: str, headers: Mapping[str, str]) -> AsyncBoltRequest | None:
    """The request Bolt dispatches, or None when a signed body is not one Slack sends."""
    try:
        text = raw.decode("utf-8")
        request = AsyncBoltRequest(body=text, query=query, headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None  # not UTF-8, not JSON, a payload that is not an object, nesting too deep
    return request if well_formed(request.body) else None


def well_formed(body: Any) -> bool:
    """The fields our listeners and Bolt read have the types Slack gives them."""
    if not isinstance(body, dict):
        return False
    if not _typed(body, _STRINGS, str) or not _typed(body, _OBJECTS, dict, lists_ok=_LISTS):
        return False
    if "command" in body and not all(isinstance(body.get(k), str) for k in _COMMAND_NEEDS):
        return False
    for key in ("user", "team", "channel"):
        if isinstance(body.get(key), dict) and not _typed(body[key], _ID_STRINGS, str):
            return False
    event, view = body.get("event"), body.get("view")
    if isinstance(event, dict) and (not _typed(event, ("type",), str) or (
            event.get("type") in _OUR_EVENTS and not _typed(event, _EVENT_STRINGS, str))):
        return False
    if isinstance(view, dict) and not (_typed(view, _VIEW_STRINGS, str)
                                       and isinstance(view.get("state", {}), dict)):
        return False
    actions = body.get("actions", [])
    return isinstance(actions, list) and all(
        isinstance(a, dict) and _typed(a, _ACTION_STRINGS, str) for a in actions)


def _typed(data: dict[str, Any], keys: tuple[str, ...], kind: type,
           lists_ok: tuple[str, ...] = ()) -> bool:
    """Each of `keys` present in `data` is None or a `kind` (or a list, for `lists_ok`)."""
    for key in keys:
        value = data.get(key)
        if value is None or isinstance(value, kind):
            continue
        if key in lists_ok and isinstance(value, list):
            continue
        return False
    return True
