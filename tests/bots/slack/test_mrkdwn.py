"""Markdown to Slack mrkdwn, mention neutralising and Slack text to plain: pure tables."""

from __future__ import annotations

import pytest

from bots.slack._incoming import message_trigger, slack_to_plain
from bots.slack._mrkdwn import markdown_to_mrkdwn, neutralise_broadcasts, safe_text

WJ = "\u2060"


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        # Headings become bold lines: Slack has no heading syntax.
        ("# Title", "*Title*"),
        ("### Deep **title** ###", "*Deep title*"),
        # Bold and italic swap markers; bold must not turn into italic on the way.
        ("**bold** and *italic*", "*bold* and _italic_"),
        ("__bold__ and _italic_", "*bold* and _italic_"),
        ("***both***", "*_both_*"),
        ("~~gone~~", "~gone~"),
        # Links and images use Slack's <url|label> form; bare autolinks keep the URL.
        ("[docs](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|docs>"),
        ("![chart](https://example.com/c.png)", "<https://example.com/c.png|chart>"),
        ("see <https://example.com>", "see <https://example.com>"),
        # A pipe in a label would end the link early.
        ("[a|b](https://x.io)", "<https://x.io|a¦b>"),
        # Lists: bullets become •, nesting is kept, numbered lists stay as they are.
        ("- one\n  - two\n1. three", "• one\n    • two\n1. three"),
        ("- [x] done\n- [ ] todo", "• ☑ done\n• ☐ todo"),
        # Quotes keep a raw > so Slack still renders them as quotes.
        ("> quoted **text**", "> quoted *text*"),
        # Code spans and fences are left alone, except the language Slack cannot show.
        ("use `**not bold**`", "use `**not bold**`"),
        ("```python\nx = a < b and c > d\n```", "```\nx = a &lt; b and c &gt; d\n```"),
        # An unterminated fence is closed so it does not swallow what follows.
        ("```\ncode", "```\ncode\n```"),
        # Slack's control characters are escaped in ordinary text.
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        # Rules become a visible line.
        ("---", "──────────"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert markdown_to_mrkdwn(markdown) == mrkdwn


def test_tables_become_aligned_monospace() -> None:
    table = "| Name | Score |\n|:-----|------:|\n| **Ann** | 10 |\n| Bob | 9 |\n\nAfter."
    assert markdown_to_mrkdwn(table) == (
        "```\nName  Score\n----  -----\nAnn   10\nBob   9\n```\n\nAfter."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Slack's own broadcast syntax arrives escaped: visible, inert.
        ("<!channel> hi", "&lt;!channel&gt; hi"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        # Bare words get a word joiner so Slack does not link them either.
        ("@everyone look", f"@{WJ}everyone look"),
        ("@Here", f"@{WJ}Here"),
        # An e-mail address or a user handle is not a broadcast.
        ("mail me@herecorp.com", "mail me@herecorp.com"),
    ],
)
def test_model_output_never_broadcasts(text: str, expected: str) -> None:
    assert markdown_to_mrkdwn(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<!everyone>",  # the raw control sequence
        "**@channel**",  # inside formatting
        "```\n@here <!here>\n```",  # inside a code fence
        "| a |\n|---|\n| <!channel> |",  # inside a table
        "[click](https://x.io) <!subteam^S123|@team>",  # a user group ping
    ],
)
def test_no_broadcast_survives_anywhere(text: str) -> None:
    out = markdown_to_mrkdwn(text)
    assert "<!" not in out
    for word in ("@channel", "@here", "@everyone"):
        assert word not in out


def test_safe_text_escapes_and_neutralises() -> None:
    assert safe_text("<@U1> & @here") == f"&lt;@U1&gt; &amp; @{WJ}here"
    assert neutralise_broadcasts("@channel") == f"@{WJ}channel"


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        # The bot's own mention is removed; the question remains.
        ("<@U0BOT> what is 2+2?", "what is 2+2?"),
        # Other people stay readable, with their display name when Slack gives one.
        ("ask <@U0ANN> or <@U0BOB|bob>", "ask @U0ANN or @bob"),
        # Channels, links and escapes as a person would read them.
        ("in <#C0GEN|general>", "in #general"),
        ("see <https://x.io|the docs> and <https://y.io>", "see the docs (https://x.io) and https://y.io"),
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
        ("<!here> help", "@here help"),
    ],
)
def test_slack_to_plain(slack: str, plain: str) -> None:
    assert slack_to_plain(slack, "U0BOT") == plain


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        # A DM from a person is always answered.
        ({"type": "message", "user": "U1", "ts": "1", "channel_type": "im", "text": "hi"}, "dm"),
        # A reply in a thread without a mention may be a follow-up (policy decides later).
        ({"type": "message", "user": "U1", "ts": "2", "thread_ts": "1",
          "channel_type": "channel", "text": "and then?"}, "follow"),
        # A reply that mentions the bot is left to app_mention (one answer, not two).
        ({"type": "message", "user": "U1", "ts": "2", "thread_ts": "1",
          "channel_type": "channel", "text": "<@U0BOT> and then?"}, None),
        # A top-level channel message without a mention is not for us.
        ({"type": "message", "user": "U1", "ts": "1", "channel_type": "channel",
          "text": "hello"}, None),
        # Bots, edits, deletions and joins are ignored.
        ({"type": "message", "user": "U2", "bot_id": "B2", "ts": "1", "channel_type": "im",
          "text": "beep"}, None),
        ({"type": "message", "subtype": "message_changed", "ts": "1", "channel_type": "im",
          "message": {"user": "U1", "text": "x"}}, None),
        ({"type": "message", "subtype": "message_deleted", "ts": "1", "channel_type": "im"},
         None),
        ({"type": "message", "subtype": "channel_join", "user": "U1", "ts": "1",
          "channel_type": "channel", "text": "joined"}, None),
        # A file shared with a question in a DM still counts.
        ({"type": "message", "subtype": "file_share", "user": "U1", "ts": "1",
          "channel_type": "im", "text": "what is in this?"}, "dm"),
    ],
)
def test_message_trigger(event: dict[str, object], trigger: str | None) -> None:
    assert message_trigger(event, "U0BOT") == trigger
