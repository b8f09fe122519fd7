"""Assertions over the fake Discord's record shared by the scenario tests."""

from __future__ import annotations

from .fake_discord import Call, FakeDiscord


def card_edits(fake: FakeDiscord, card_id: str) -> list[Call]:
    """Edits of one card, through the interaction webhook or with the bot token."""
    return [c for c in fake.calls if c.method == "PATCH" and c.path.endswith(f"/{card_id}")]


FINAL_TITLES = ("✅ Done", "❌ Failed", "⌛ Timed out", "⏹️ Stopped")


async def wait_final(fake: FakeDiscord, card_id: str, within: float = 20.0) -> Call:
    """The card's final edit (the run ended), once it was sent."""

    def final() -> Call | None:
        for call in card_edits(fake, card_id):
            embeds = (call.body or {}).get("embeds") or []
            if embeds and embeds[0].get("title") in FINAL_TITLES:
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
