"""`mcp_servers` in config.yaml: the MCP servers whose tools agents may use.

Invariant: no secret is written here. A stdio server's `env` maps the server's variable to the
name of OUR environment variable holding the value; an HTTP server's `headers_env` maps a header
to such a name. Values are read from the environment when the server is started.

Tool names: `mcp__<server>` means every tool of that server, `mcp__<server>__<tool>` one tool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PREFIX = "mcp__"
SERVER_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
SERVER_NAME_RULE = "[a-z0-9_-]{1,32}"
MAX_SERVERS = 32
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # an HTTP token (RFC 9110)


class McpServerConfig(BaseModel):
    """One server: a local process over stdio (`command`) or a remote one (`url`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    command: list[str] | None = Field(default=None, min_length=1, max_length=100)
    env: dict[str, str] = Field(default_factory=dict, max_length=100)  # server var -> our var
    cwd: str | None = Field(default=None, min_length=1, max_length=4096)
    url: str | None = Field(default=None, min_length=8, max_length=2048)
    headers_env: dict[str, str] = Field(default_factory=dict, max_length=50)  # header -> our var
    timeout: float | None = Field(default=None, gt=0, le=600)  # per call; None: timeouts.tool
    start_timeout: float = Field(default=10.0, gt=0, le=300)  # start and list the tools

    @field_validator("command")
    @classmethod
    def _command(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v[0].strip():
            raise ValueError("the command's first word (the program) is empty")
        return v

    @field_validator("env", "headers_env")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for key, ours in v.items():
            if not _ENV_NAME.match(ours):
                # The value is not echoed: it may be the secret itself, written by mistake.
                raise ValueError(f"{key}: the value must be the NAME of our environment "
                                 "variable holding it ([A-Za-z_][A-Za-z0-9_]*), never the secret")
        return v

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (streamable HTTP)")
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url must start with http:// or https://")
            if self.env or self.cwd:
                raise ValueError("env and cwd are for stdio servers (command), not url")
            for header in self.headers_env:
                if not _HEADER.match(header):
                    raise ValueError(f"headers_env: {header!r} is not an HTTP header name")
        elif self.headers_env:
            raise ValueError("headers_env is for HTTP servers (url), not command")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"

    def secret_names(self) -> list[str]:
        """Our environment variables this server reads (to redact their values from logs)."""
        return [*self.env.values(), *self.headers_env.values()]


def check_server_names(servers: Mapping[str, McpServerConfig]) -> None:
    """`ValueError` naming the first bad server name and the rule."""
    if len(servers) > MAX_SERVERS:
        raise ValueError(f"at most {MAX_SERVERS} servers")
    for name in servers:
        if not SERVER_NAME.match(name):
            raise ValueError(f"server name {name!r} must match {SERVER_NAME_RULE}")


def split_name(name: str, servers: Iterable[str]) -> tuple[str, str | None] | None:
    """(server, tool or None) for `mcp__server[__tool]` naming a configured server, else None.

    Server names may themselves hold `__`: the longest configured name that fits wins.
    """
    if not name.startswith(PREFIX):
        return None
    rest = name[len(PREFIX):]
    best: tuple[str, str | None] | None = None
    for server in servers:
        if rest == server:
            tool: str | None = None
        elif rest.startswith(server + "__") and len(rest) > len(server) + 2:
            tool = rest[len(server) + 2:]
        else:
            continue
        if best is None or len(server) > len(best[0]):
            best = (server, tool)
    return best


def unknown_mcp_names(names: Iterable[str], servers: Iterable[str]) -> list[str]:
    """The `mcp__...` entries of `names` that name no configured server."""
    known = list(servers)
    return [n for n in names if n.startswith(PREFIX) and split_name(n, known) is None]


def permits(allowed: Iterable[str], name: str, servers: Iterable[str]) -> bool:
    """Whether the list `allowed` lets `name` through: listed itself, or an MCP tool whose
    whole server (`mcp__<server>`) is listed."""
    allowed = set(allowed)
    if name in allowed:
        return True
    parts = split_name(name, servers)
    return parts is not None and parts[1] is not None and f"{PREFIX}{parts[0]}" in allowed
