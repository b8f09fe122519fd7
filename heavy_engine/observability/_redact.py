"""Secret redaction by pattern: applied to every log line, traceback and stored error text.

Patterns cover the credential shapes heavy meets (Slack, Discord, OpenAI-style keys, bearer
headers, `key=value` pairs); `add_secret()` also hides exact values read from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "[REDACTED]"

# Each pattern with its cues: fixed text it cannot match without. A text that holds none of a
# pattern's cues (compared case-folded, which covers what IGNORECASE matches: "ſ" is "s", the
# Kelvin sign "k") skips that scan; most log lines hold none (formatting a JSON log line, which
# redacts each value and the line: 60 -> 24 us).
_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("xox",), re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}")),  # Slack bot/user/config tokens
    (("xapp-",), re.compile(r"\bxapp-[A-Za-z0-9-]{8,}")),  # Slack app-level (Socket Mode) tokens
    (("sk-",), re.compile(r"\bsk-(?:or-|ant-|proj-)?[A-Za-z0-9_-]{16,}")),  # OpenAI, Anthropic...
    ((), re.compile(  # Discord bot tokens: no fixed text, always scanned
        r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}\b")),
    (("bearer",), re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")),
    (("key", "token", "secret", "passw"), re.compile(
        # the key may be quoted, as in a dict's repr or JSON: {'api_key': '...'}
        r"(?i)(\b[\w-]*(?:api[_-]?key|token|secret|password|passwd)[\w-]*\b[\"']?\s*[=:]\s*[\"']?)"
        r"(?!\d+(?:[.,]\d+)*\b)[^\s\"',;&]{4,}"  # plain numbers are counts, not secrets
    )),
    (("://",), re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+(?=@)")),  # passwords in URLs (pg://u:p@h)
]
# Environment variables whose values are secrets whatever they look like.
SECRET_ENV = (
    "HEAVY_API_TOKEN", "OPENROUTER_API_KEY", "HEAVY_LLM_API_KEY", "ANTHROPIC_API_KEY",
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET",
    "DISCORD_TOKEN", "HEAVY_DATABASE_URL", "BRAVE_API_KEY", "TAVILY_API_KEY",
)
_exact: list[str] = []  # longest first: one that contains another must not be cut in two


def add_secret(value: str | None) -> None:
    """Hide this exact value from now on (values shorter than 6 characters are ignored)."""
    if value and len(value) >= 6 and value not in _exact:
        _exact.append(value)
        _exact.sort(key=len, reverse=True)


def add_env_secrets(env: Mapping[str, str], names: Iterable[str] = SECRET_ENV) -> None:
    for name in names:
        add_secret(env.get(name))


def redact(text: str) -> str:
    """`text` with every secret it contains replaced by `[REDACTED]`."""
    for value in _exact:
        if value in text:
            text = text.replace(value, MASK)
    folded = text.casefold()
    for cues, pattern in _PATTERNS:
        if cues and not any(map(folded.__contains__, cues)):
            continue
        text, found = pattern.subn(_keep_prefix, text)
        if found:
            folded = text.casefold()
    return text


def _keep_prefix(match: re.Match[str]) -> str:
    # Patterns with a group keep it ("Bearer ", "api_key=") so the line stays readable.
    return (match.group(1) if match.re.groups else "") + MASK
