"""Tables created by migration 0001_settings: channel settings, their audit log, event dedup.

`platform` is any adapter's name (no CHECK since 0003_platform_free): an adapter installed as a
plugin stores settings without a migration; `settings.Scope` checks the name's shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ._base import Base, UTCDateTime


class ChannelSettings(Base):
    """Overrides for one scope; `channel == ""` is the workspace (Slack team / Discord guild)."""

    __tablename__ = "channel_settings"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Optimistic concurrency: every write is `UPDATE ... WHERE version = <read version>`.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SettingsAudit(Base):
    """One row per change to a scope: who, when, and the scope's overrides before and after."""

    __tablename__ = "settings_audit"
    __table_args__ = (Index("ix_settings_audit_scope", "platform", "workspace", "channel", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # set | unset | reset
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)  # the scope's version after the change
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
