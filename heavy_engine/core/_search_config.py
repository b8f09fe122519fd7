"""The `search:` key of config.yaml: which back-ends `web_search` asks, and in what order.

Invariant: only the operator writes `base_url` and `api_key_env` (config.yaml); a channel's
`search=` setting (`prefer`) picks a NAME among the back-ends configured here, so nobody but the
operator can point a search request at a host. That is why search requests need no SSRF guard
(see `tools/search/_http.py`). Keys are named by environment variable, never written here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import plugins

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_FALLBACK = 8


class _Strict(BaseModel):
    # as `_config._Strict` (that module imports this one): unknown keys and coercions refused
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SearchBackendConfig(_Strict):
    """One back-end: a registered name (`heavy.search` plugins), its API root and its key."""

    backend: str = Field(min_length=1, max_length=64)
    # The API's root as its docs give it; unset: the back-end's public default.
    base_url: str | None = Field(default=None, max_length=2000)
    # The environment variable holding the key; unset: the back-end's own default name.
    api_key_env: str | None = None

    @field_validator("backend")
    @classmethod
    def _registered(cls, v: str) -> str:
        known = plugins.registry()  # metadata only: validating imports no back-end
        if not known.has("search", v):
            raise ValueError(
                f"unknown search back-end {v!r} (known: {', '.join(known.names('search'))})")
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        if parts.username or parts.password:  # it would show in logs: keys go in api_key_env
            raise ValueError("base_url must not carry a user or password; use api_key_env")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("api_key_env must be the NAME of an environment variable "
                             "(letters, digits and _), not the key itself")
        return v


class SearchConfig(SearchBackendConfig):
    """`backend` first, then `fallback` in order; a channel's `prefer` moves one to the front."""

    backend: str = Field(default="duckduckgo", min_length=1, max_length=64)
    fallback: list[SearchBackendConfig] = Field(default_factory=list, max_length=MAX_FALLBACK)
    # The per-channel `search=` setting: a back-end configured above, tried first.
    prefer: str | None = Field(default=None, min_length=1, max_length=64)
    timeout: float = Field(default=10.0, gt=0, le=120)  # seconds per back-end tried

    @field_validator("fallback", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        # `fallback: [duckduckgo]` is short for `[{backend: duckduckgo}]`
        if isinstance(v, list):
            return [{"backend": e} if isinstance(e, str) else e for e in v]
        return v

    @model_validator(mode="after")
    def _chain_is_clear(self) -> SearchConfig:
        names = [e.backend for e in self.entries()]
        if len(set(names)) != len(names):
            raise ValueError(f"each search back-end may appear once in backend and fallback "
                             f"(got {', '.join(names)})")
        if self.prefer is not None and self.prefer not in names:
            raise ValueError(f"{self.prefer!r} is not a configured search back-end "
                             f"(configured: {', '.join(names)})")
        return self

    def entries(self) -> list[SearchBackendConfig]:
        """`backend` and the fallbacks, in the operator's order."""
        first = SearchBackendConfig.model_construct(
            backend=self.backend, base_url=self.base_url, api_key_env=self.api_key_env)
        return [first, *self.fallback]

    def chain(self) -> list[SearchBackendConfig]:
        """The order to try: the channel's pick first, then the others in the operator's order."""
        entries = self.entries()
        picked = [e for e in entries if e.backend == self.prefer]
        return picked + [e for e in entries if e.backend != self.prefer]

    def names(self) -> list[str]:
        return [e.backend for e in self.entries()]


__all__ = ["SearchBackendConfig", "SearchConfig"]
