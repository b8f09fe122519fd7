"""Which hosts files may be fetched from, and which of them get the bot token.

Slack: the bot token (`Authorization: Bearer`) goes only to Slack's file host, or to the origin
of `SLACK_API_URL` when it is set (a proxy, GovSlack, the test fake). Discord: attachments are
fetched only from Discord's CDN hosts, or the origin of `DISCORD_API_URL`, with no credentials
and the signed query string left exactly as Discord wrote it. Anything else is refused before a
connection is made. Origins compare scheme, host and port: the token never goes to another port
of the same host, nor over plain HTTP to Slack's real host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SLACK_FILE_HOSTS = ("files.slack.com", "files-edu.slack.com", "files-gov.slack.com")
DISCORD_CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")

Origin = tuple[str, str, int]


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Allowed origins for one platform, and the headers sent to them (and nowhere else)."""

    platform: str
    origins: frozenset[Origin]
    headers: tuple[tuple[str, str], ...] = ()
    where: str = "an allowed file host"  # for notes: "not from <where>"

    def allows(self, url: str) -> bool:
        found = origin(url)
        return found is not None and found in self.origins

    def __repr__(self) -> str:  # never show the token
        return f"HostPolicy({self.platform!r}, {sorted(self.origins)!r})"


def _origins(hosts: Iterable[str], override: str | None) -> frozenset[Origin]:
    found = {("https", host, 443) for host in hosts}
    extra = origin(override) if override else None
    if extra is not None:
        found.add(extra)
    return frozenset(found)


def slack_policy(token: str | None, env: Mapping[str, str]) -> HostPolicy:
    """Slack's file hosts (and `SLACK_API_URL`'s origin), with the bot token for them."""
    headers = (("Authorization", f"Bearer {token}"),) if token else ()
    return HostPolicy("slack", _origins(SLACK_FILE_HOSTS, env.get("SLACK_API_URL")), headers,
                      "Slack's file host")


def discord_policy(env: Mapping[str, str]) -> HostPolicy:
    """Discord's CDN hosts (and `DISCORD_API_URL`'s origin); no credentials."""
    return HostPolicy("discord", _origins(DISCORD_CDN_HOSTS, env.get("DISCORD_API_URL")), (),
                      "Discord's CDN")
