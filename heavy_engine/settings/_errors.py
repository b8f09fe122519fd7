"""Why a settings change did not happen."""

from __future__ import annotations

from ..core import ConfigError, HeavyError


class SettingsRefused(ConfigError):
    """A value, key or model broke the operator's rules; nothing was changed."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class SettingsConflict(HeavyError):
    """The scope changed since the version the writer read; nothing was changed."""

    def __init__(self, scope: object, expected: int, actual: int) -> None:
        super().__init__(
            f"settings for {scope} changed: you edited version {expected}, it is now at "
            f"version {actual}; reload them and try again"
        )
        self.expected = expected
        self.actual = actual

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)


class SettingsForbidden(HeavyError):
    """The user may not change settings in this scope."""

    @property
    def user_message(self) -> str:  # type: ignore[override]
        return str(self)
