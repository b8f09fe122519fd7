"""Slack installations (one per workspace), OAuth states and assistant-thread contexts in
heavy's database, behind Bolt's async store interfaces.

Invariant: a bot token is never stored in clear. It is encrypted with Fernet under
HEAVY_SECRET_KEY (several comma-separated keys rotate: the first encrypts, all decrypt), and
a token that no key can read counts as "not installed" rather than crashing a request.
Tables come from migration 0006_slack_installs.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.assistant.thread_context_store.async_store import (
    AsyncAssistantThreadContextStore,
)
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import JSON, Boolean, Index, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from heavy_engine.db import Base, Database, UTCDateTime, utcnow

log = logging.getLogger("heavy.slack")

STATE_TTL_S = 600  # an install link works for ten minutes
# Outstanding install links; past it the oldest go first. Installs are rare: a flood of
# /slack/install (each writes a row) costs at most this many rows, and a person whose link was
# pushed out just starts again.
MAX_STATES = 200
THREAD_CONTEXT_DAYS = 30  # assistant threads older than this forget the channel they were in


class SlackInstall(Base):
    """One workspace (or org) heavy is installed in, with its encrypted bot token."""

    __tablename__ = "slack_installs"

    # "" rather than NULL: part of the primary key (a workspace has no enterprise outside Grid).
    enterprise_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_name: Mapped[str | None] = mapped_column(String(200))
    app_id: Mapped[str | None] = mapped_column(String(64))
    bot_id: Mapped[str] = mapped_column(String(64))
    bot_user_id: Mapped[str] = mapped_column(String(64))
    bot_scopes: Mapped[str] = mapped_column(Text)
    bot_token: Mapped[str] = mapped_column(Text)  # Fernet token of the xoxb-... token
    installer: Mapped[str | None] = mapped_column(String(64))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackOAuthState(Base):
    """A state handed out with an "Add to Slack" link; used once, expires."""

    __tablename__ = "slack_oauth_states"
    __table_args__ = (Index("ix_slack_oauth_states_expires_at", "expires_at"),)

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackAssistantThread(Base):
    """The channel a user was looking at when they opened (or moved) an assistant thread."""

    __tablename__ = "slack_assistant_threads"
    __table_args__ = (Index("ix_slack_assistant_threads_updated_at", "updated_at"),)

    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_ts: Mapped[str] = mapped_column(String(64), primary_key=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TokenCipher:
    """Fernet encryption of bot tokens under HEAVY_SECRET_KEY (comma-separated keys rotate)."""

    def __init__(self, secret_key: str) -> None:
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            # The key itself never goes into the message.
            raise ValueError("HEAVY_SECRET_KEY must be one or more comma-separated Fernet keys "
                             "(32 url-safe base64-encoded bytes each)") from None

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str | None:
        """The token, or None when no configured key can read it (a lost or wrong key)."""
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            return None


class DbInstallationStore(AsyncInstallationStore):
    """Bot installations only (heavy asks for no user scopes)."""

    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self.db = db
        self.cipher = cipher

    @property
    def logger(self) -> Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self._save(installation.to_bot(), installer=installation.user_id or None)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._save(bot, installer=None)

    async def _save(self, bot: Bot, *, installer: str | None) -> None:
        row = SlackInstall(
            enterprise_id=bot.enterprise_id or "", team_id=bot.team_id or "",
            team_name=bot.team_name, app_id=bot.app_id, bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id, bot_scopes=",".join(bot.bot_scopes or []),
            bot_token=self.cipher.encrypt(bot.bot_token), installer=installer,
            is_enterprise_install=bool(bot.is_enterprise_install), installed_at=utcnow())
        async with self.db.session() as session, session.begin():
            await session.merge(row)  # a reinstall replaces the token
        log.info("slack: installed in workspace %s", bot.team_id or bot.enterprise_id)

    async def _row(self, enterprise_id: str | None, team_id: str | None,
                   is_enterprise_install: bool | None) -> SlackInstall | None:
        key = (enterprise_id or "", "" if is_enterprise_install else team_id or "")
        async with self.db.session() as session:
            return await session.get(SlackInstall, key)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        row = await self._row(enterprise_id, team_id, is_enterprise_install)
        if row is None:
            return None
        token = self.cipher.decrypt(row.bot_token)
        if token is None:
            log.error("slack: the bot token of workspace %s cannot be decrypted with "
                      "HEAVY_SECRET_KEY (was the key changed?); reinstall heavy there",
                      row.team_id or row.enterprise_id)
            return None
        return Bot(app_id=row.app_id, enterprise_id=row.enterprise_id or None,
                   team_id=row.team_id or None, team_name=row.team_name, bot_token=token,
                   bot_id=row.bot_id, bot_user_id=row.bot_user_id, bot_scopes=row.bot_scopes,
                   is_enterprise_install=row.is_enterprise_install,
                   installed_at=row.installed_at.timestamp())

    async def async_find_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                        is_enterprise_install=is_enterprise_install)
        if bot is None or user_id is not None:  # no user tokens are kept
            return None
        return Installation(
            app_id=bot.app_id, enterprise_id=bot.enterprise_id, team_id=bot.team_id,
            team_name=bot.team_name, bot_token=bot.bot_token, bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes, user_id="",
            is_enterprise_install=bot.is_enterprise_install, installed_at=bot.installed_at)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(delete(SlackInstall).where(
                SlackInstall.enterprise_id == (enterprise_id or ""),
                SlackInstall.team_id == (team_id or "")))
        log.info("slack: uninstalled from workspace %s", team_id or enterprise_id)

    async def async_delete_installation(self, *, enterprise_id: str | None,
                                        team_id: str | None, user_id: str | None = None) -> None:
        if user_id is None:  # a user's token going away leaves the bot installed
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


class DbOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth states with an expiry, so a forged or replayed callback is refused."""

    def __init__(self, db: Database, *, ttl_s: float = STATE_TTL_S,
                 max_states: int = MAX_STATES) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_s)
        self.max_states = max_states

    @property
    def logger(self) -> Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        now = utcnow()
        async with self.db.session() as session, session.begin():
            await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
            held = await session.scalar(select(func.count()).select_from(SlackOAuthState)) or 0
            if held >= self.max_states:
                oldest = await session.scalars(select(SlackOAuthState.state).order_by(
                    SlackOAuthState.expires_at).limit(held - self.max_states + 1))
                await session.execute(delete(SlackOAuthState).where(
                    SlackOAuthState.state.in_(list(oldest))))
            session.add(SlackOAuthState(state=state, expires_at=now + self.ttl))
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        async with self.db.session() as session, session.begin():
            row = await session.get(SlackOAuthState, state[:64])
            if row is None:
                return False
            await session.delete(row)
            return row.expires_at >= utcnow()


class DbThreadContextStore(AsyncAssistantThreadContextStore):
    """Bolt's assistant-thread context store, in the database (survives restarts)."""

    def __init__(self, db: Database, *, keep_days: float = THREAD_CONTEXT_DAYS) -> None:
        self.db = db
        self.keep = timedelta(days=keep_days)
        self._last_prune = 0.0

    async def save(self, *, channel_id: str, thread_ts: str, context: dict[str, str]) -> None:
        row = SlackAssistantThread(channel_id=channel_id, thread_ts=thread_ts,
                                   context=dict(context), updated_at=utcnow())
        async with self.db.session() as session, session.begin():
            await session.merge(row)
            if time.monotonic() - self._last_prune > 3600:
                self._last_prune = time.monotonic()
                await session.execute(delete(SlackAssistantThread).where(
                    SlackAssistantThread.updated_at < utcnow() - self.keep))

    async def find(self, *, channel_id: str, thread_ts: str) -> AssistantThreadContext | None:
        async with self.db.session() as session:
            row = await session.scalar(select(SlackAssistantThread).where(
                SlackAssistantThread.channel_id == channel_id,
                SlackAssistantThread.thread_ts == thread_ts))
        return None if row is None else AssistantThreadContext(dict(row.context))
