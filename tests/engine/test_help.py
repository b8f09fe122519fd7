"""`/heavy help`: one Markdown text with the real figures."""

from __future__ import annotations

from heavy_engine import HeavyConfig
from heavy_engine.attachments import AttachmentLimits
from heavy_engine.help import help_text
from heavy_engine.text import split_markdown


def test_help_names_what_heavy_does_and_the_figures() -> None:
    text = help_text(HeavyConfig(agents=3))
    for expected in ("3 agents (up to 16)", "`/heavy <question>`", "last 20 messages",
                     "6,000 characters", "up to 5 files", "up to 1 MB each", "10 MB",
                     "40,000 characters", "**Regenerate**", "**Go deeper**", "`/heavy-config`",
                     "`block_users`", "`allow_roles`"):
        assert expected in text, expected
    assert "Daily limits" not in text and "Models admins can pick" not in text


def test_help_follows_the_configuration() -> None:
    config = HeavyConfig(allowed_models=["a/one", "b/two"]).with_overrides(
        {"limits": {"daily_tokens_per_user": 50_000, "daily_cost_per_channel": 2.5}})
    text = help_text(config, limits=AttachmentLimits(max_files=2), command="/ask")
    assert "Models admins can pick: a/one, b/two." in text
    assert "Daily limits: 50,000 tokens per person, $2.50 per channel." in text
    assert "up to 2 files" in text and "`/ask <question>`" in text and "`/ask-config`" in text


def test_help_fits_one_discord_message_part_or_slack_block() -> None:
    text = help_text(HeavyConfig(allowed_models=[f"vendor/model-{i}" for i in range(20)]))
    assert len(split_markdown(text, 4000)) == 1  # one Slack markdown message
