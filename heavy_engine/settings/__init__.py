"""Channel settings: per-workspace and per-channel overrides of the operator's configuration.

Invariants: `layer()` is the only place that knows the order (config.yaml, workspace,
channel, request flags); every write is checked against the operator's rules (pydantic
bounds, `allowed_models`, known tools) before it touches the database; a write and its
audit row commit together; a stale `expected_version` raises `SettingsConflict`.
"""

from __future__ import annotations

from ._admin import AdminPolicy, AnyOf, ConfigAdmins, ensure_can_edit
from ._errors import SettingsConflict, SettingsForbidden, SettingsRefused
from ._keys import (
    KEY_HELP,
    effective_values,
    normalize_key,
    parse_assignments,
    parse_value,
    read_value,
    to_overrides,
)
from ._resolve import layer
from ._rules import check_value
from ._store import JobLike, SettingsStore
from ._types import AuditEntry, Resolved, Scope, ScopeSettings, Source

__all__ = [
    "KEY_HELP",
    "AdminPolicy",
    "AnyOf",
    "AuditEntry",
    "ConfigAdmins",
    "JobLike",
    "Resolved",
    "Scope",
    "ScopeSettings",
    "SettingsConflict",
    "SettingsForbidden",
    "SettingsRefused",
    "SettingsStore",
    "Source",
    "check_value",
    "effective_values",
    "ensure_can_edit",
    "layer",
    "normalize_key",
    "parse_assignments",
    "parse_value",
    "read_value",
    "to_overrides",
]
