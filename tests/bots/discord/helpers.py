"""Assertions over the fake Discord's record shared by the scenario tests."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

from heavy_engine.testing import hang_reply

from .fake_discord import APP_ID, CHANNEL_ID, GUILD_ID, Call, FakeDiscord, member, user

if TYPE_CHECKING:
    from .conftest import Stack

ALICE = "940000000000000001"  # an ordinary member
BOB = "940000000000000002"  # another ordinary member
MOD = "940000000000000003"  # can manage channels, not the server
ADMIN = "940000000000000004"  # can manage the server
VIEW, SEND, MANAGE_CHANNELS, MANAGE_GUILD = 1 << 10, 1 << 11, 1 << 4, 1 << 5
MEMBER_PERMISSIONS = VIEW | SEND | (1 << 31) | (1 << 35) | (1 << 38)
PERMISSIONS = {ALICE: MEMBER_PERMISSIONS, BOB: MEMBER_PERMISSIONS,
               MOD: MEMBER_PERMISSIONS | MANAGE_CHANNELS,
               ADMIN: MEMBER_PERMISSIONS | MANAGE_CHANNELS | MANAGE_GUILD}
NAMES = {ALICE: "alice", BOB: "bob", MOD: "mod", ADMIN: "admin"}
_ids = itertools.count(960_000_000_000_000_001)


def card_edits(fake: FakeDiscord, card_id: str) -> list[Call]:
    """Edits of one card, through the interaction webhook or with the bot token."""
    def is_card(call: Call) -> bool:
        original = re.fullmatch(r"/webhooks/\d+/([^/]+)/messages/@original", call.path)
        if original is not None:
            return fake.original(original[1]) == card_id
        return call.path.endswith(f"/{card_id}")

    return [c for c in fake.calls if c.method == "PATCH" and is_card(c)]


FINAL_TITLES = ("✅ Done", "❌ Failed", "⌛ Timed out", "⏹️ Stopped")


async def wait_final(fake: FakeDiscord, card_id: str, within: float = 20.0) -> Call:
    """The card's final edit (the run ended), once Discord accepted it."""

    def final() -> Call | None:
        for call in card_edits(fake, card_id):
            embeds = (call.body or {}).get("embeds") or []
            if embeds and embeds[0].get("title") in FINAL_TITLES and call.status == 200:
                return call
        return None

    found: Call = await fake.wait_for(final, within)
    return found


def message_posts(fake: FakeDiscord, channel_id: str) -> list[Call]:
    return fake.find("POST", rf"/channels/{channel_id}/messages")


def assert_safe_mentions(fake: FakeDiscord) -> None:
    """Every message sent or edited says who may be pinged, and never @everyone or roles."""
    for call in fake.sent_messages():
        body = call.body or {}
        if call.path.endswith("/callback"):
            if body.get("type") in (1, 5, 6, 8):  # pong, defers, autocomplete: no content
                continue
            body = body.get("data") or {}
        mentions = body.get("allowed_mentions")
        assert mentions is not None, f"{call.method} {call.path} has no allowed_mentions"
        assert "everyone" not in mentions.get("parse", []), call
        assert "roles" not in mentions.get("parse", []), call
        assert not mentions.get("roles"), call


def interaction(data: dict[str, Any], *, kind: int, uid: str = ALICE,
                channel: str = CHANNEL_ID, **extra: Any) -> dict[str, Any]:
    """An INTERACTION_CREATE as Discord sends it, from `uid` with their channel permissions."""
    iid = str(next(_ids))
    return {
        "id": iid, "application_id": APP_ID, "type": kind, "token": f"token-{iid}",
        "version": 1, "guild_id": GUILD_ID, "channel_id": channel,
        "channel": {"id": channel, "type": 0, "name": "general", "guild_id": GUILD_ID,
                    "position": 0, "permission_overwrites": [], "nsfw": False,
                    "parent_id": None, "flags": 0},
        "member": member(user(uid, NAMES.get(uid, "someone")), PERMISSIONS.get(uid, 0)),
        "app_permissions": str((1 << 53) - 1), "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": {"0": GUILD_ID}, "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024, "data": data, **extra,
    }


def slash_heavy(question: str, *, uid: str = ALICE, **options: Any) -> dict[str, Any]:
    """`/heavy question:... [agents:...] [model:...]`."""
    opts = [{"name": "question", "type": 3, "value": question}]
    types = {"agents": 4, "model": 3}
    opts += [{"name": k, "type": types[k], "value": v} for k, v in options.items()]
    return interaction({"id": "1", "name": "heavy", "type": 1, "options": opts}, kind=2,
                       uid=uid)


def button_press(fake: FakeDiscord, card_id: str, custom_id: str, uid: str) -> dict[str, Any]:
    """A click on a button of the card message."""
    return interaction({"custom_id": custom_id, "component_type": 2}, kind=3, uid=uid,
                       message=fake.messages[card_id])


def stop_button_id(call: Call) -> str:
    custom_id: str = call.body["components"][0]["components"][0]["custom_id"]
    return custom_id


INTERACTION_CALLBACK = r"/interactions/{}/[^/]+/callback"


async def running_card(stack: Stack) -> tuple[str, str]:
    """Start a run by ALICE whose agents hang; (card id, Stop button custom id) once the card
    shows its button."""
    stack.llm.enqueue(hang_reply(), hang_reply(), when="agent")
    payload = slash_heavy("A question that takes forever")
    await stack.fake.interact(payload)
    await stack.fake.wait_call("POST", INTERACTION_CALLBACK.format(payload["id"]))
    card = stack.fake.original(payload["token"])

    def with_button() -> str | None:
        for call in card_edits(stack.fake, card):
            if call.body.get("components"):
                return stop_button_id(call)
        return None

    custom_id: str = await stack.fake.wait_for(with_button)
    return card, custom_id
