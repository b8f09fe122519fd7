"""Who calls the HTTP API: named tokens (`HEAVY_API_TOKENS_FILE`), the single token, loopback.

A named token's name is the caller's principal: the `user` of its jobs for limits, budgets and
the access lists (`api:<name>` in `block_users`), and the owner of the jobs it may list, read,
follow and cancel. The single `HEAVY_API_TOKEN` (and loopback without any token) keeps the
older rule: the request's `user` field says who asks, and every job is visible.

The file holds one token a line, `name token` or `name sha256:<64 hex digits>` (the SHA-256 of
the token, so the file need not hold it); `#` starts a comment. Tokens are kept as digests and
compared in constant time with every entry; no token is ever logged or put in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from ..core import ConfigError
from ..jobs import Job
from ..observability import add_secret

TOKENS_FILE_ENV = "HEAVY_API_TOKENS_FILE"
MIN_TOKEN_CHARS = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASHED = "sha256:"
_HEX64 = re.compile(r"[0-9a-f]{64}")
DEFAULT_USER = "api"  # who asks when neither a named token nor the request says


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller. `name`: the named token's name, None for the single token or
    a loopback client; `scope`: what its `Idempotency-Key`s belong to."""

    name: str | None
    scope: str

    def user(self, asked: str | None) -> str:
        """The job's user: the token's name (the request's `user` must be absent or the same),
        else the request's `user`. ValueError says why a different `user` is refused."""
        if self.name is None:
            return asked if asked is not None else DEFAULT_USER
        if asked is not None and asked != self.name:
            raise ValueError(f"user is {asked!r}, but this token asks as {self.name!r}: leave "
                             "user out (or send the token's name).")
        return self.name

    def owns(self, job: Job) -> bool:
        """Whether this caller may see and cancel `job` (a named token: only its own)."""
        return self.name is None or (job.spec.platform == "api" and job.spec.user == self.name)


LOCAL = Caller(None, "local")
# Where `/mcp` hands the caller to the MCP SDK's tools: the ASGI scope's `state`, which only
# the server writes (see `_mcp_http`, `_mcp_tools.caller_of`).
ASGI_CALLER = "heavy_caller"


class NamedTokens:
    """The tokens of `HEAVY_API_TOKENS_FILE`, as SHA-256 digests by name."""

    def __init__(self, digests: dict[str, bytes]) -> None:
        self._entries = list(digests.items())
        self._seen: set[str] = set()  # names whose plain token is registered for redaction

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return [name for name, _ in self._entries]

    def identify(self, given: str) -> str | None:
        """The name whose token `given` is, or None. Every entry is compared, in constant time,
        so the time taken says nothing about which token (or how much of one) matched."""
        digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for name, expected in self._entries:
            if hmac.compare_digest(digest, expected):
                found = name
        if found is not None and found not in self._seen:
            add_secret(given)  # a hashed entry's token is known only now: never log it either
            self._seen.add(found)
        return found


def parse_named_tokens(text: str, source: str) -> NamedTokens:
    """The tokens in `text` (the file's content); ConfigError naming `source`, the line and
    the rule it breaks (never the token) for the first bad line."""
    digests: dict[str, bytes] = {}
    lines_of: dict[bytes, int] = {}
    name_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def bad(rule: str, number: int = number) -> ConfigError:
            return ConfigError(f"{TOKENS_FILE_ENV} {source}, line {number}: {rule}")

        fields = line.split()
        if len(fields) != 2:
            raise bad(f"a line is `name token` or `name sha256:<64 hex digits>`; this one has "
                      f"{len(fields)} field(s)")
        name, token = fields
        if not _NAME.fullmatch(name):
            raise bad("the name must be 1-64 letters, digits or . _ @ - (starting with a letter "
                      "or digit); it becomes the user of its jobs")
        if name in name_line:
            raise bad(f"the name {name!r} is already used on line {name_line[name]}")
        if token.lower().startswith(_HASHED):
            hexdigest = token[len(_HASHED):].lower()
            if not _HEX64.fullmatch(hexdigest):
                raise bad("a hashed token is sha256: followed by 64 hex digits (the output of "
                          "`printf %s TOKEN | sha256sum`)")
            digest = bytes.fromhex(hexdigest)
        else:
            if len(token) < MIN_TOKEN_CHARS:
                raise bad(f"the token is shorter than {MIN_TOKEN_CHARS} characters: use a long "
                          "random one (e.g. `openssl rand -hex 32`)")
            digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
            add_secret(token)
        if digest in lines_of:
            raise bad(f"the token is the same as line {lines_of[digest]}'s: each name needs "
                      "its own token")
        digests[name], lines_of[digest], name_line[name] = digest, number, number
    if not digests:
        raise ConfigError(f"{TOKENS_FILE_ENV} {source} lists no token: add lines "
                          "`name token` (or unset the variable)")
    return NamedTokens(digests)


def load_named_tokens(path: str | None) -> NamedTokens | None:
    """`HEAVY_API_TOKENS_FILE`'s tokens (None when unset); ConfigError for a bad file."""
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{TOKENS_FILE_ENV} {path} is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{TOKENS_FILE_ENV} {path} cannot be read "
                          f"({err.strerror or err})") from None
    return parse_named_tokens(text, path)
