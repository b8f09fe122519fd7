"""Errors the engine raises. `user_message` is safe to show in chat: no secrets, no internals."""

from __future__ import annotations


class HeavyError(Exception):
    """Base class for everything the engine raises on purpose."""

    user_message = "Something went wrong while answering."


class ConfigError(HeavyError):
    """A configuration or override value broke a rule; the message names the key and the rule."""

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)


class ProviderError(HeavyError):
    """An LLM call failed after the retries it deserved."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        # The server is not there (connection refused, unknown host): like a refused key, every
        # other call of the run would fail the same way, so the run stops.
        self.unreachable = unreachable

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)


class RequestRejected(HeavyError):
    """The request itself is unacceptable (empty, too long, ...)."""

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)
