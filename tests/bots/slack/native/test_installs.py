"""The database stores behind Bolt's interfaces: installations, OAuth states, thread contexts."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func, select

from bots.slack.native._installs import (
    DbInstallationStore,
    DbOAuthStateStore,
    DbThreadContextStore,
    SlackOAuthState,
    TokenCipher,
)
from heavy_engine.db import Database


async def _db(tmp_path: Path) -> Database:
    return await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'heavy.db'}")


async def test_installation_round_trip_reinstall_and_delete(tmp_path: Path) -> None:
    async with await _db(tmp_path) as db:
        store = DbInstallationStore(db, TokenCipher(Fernet.generate_key().decode()))
        for token in ("xoxb-old", "xoxb-new"):  # a reinstall replaces the token
            await store.async_save(Installation(
                app_id="A1", team_id="T1", team_name="One", bot_token=token, bot_id="B1",
                bot_user_id="U1", bot_scopes="chat:write,commands", user_id="U9"))
        bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
        assert bot is not None and bot.bot_token == "xoxb-new"
        assert bot.bot_scopes == ["chat:write", "commands"]
        found = await store.async_find_installation(enterprise_id=None, team_id="T1")
        assert found is not None and found.bot_user_id == "U1"
        # No user tokens are kept: a user's own installation is never found.
        assert await store.async_find_installation(enterprise_id=None, team_id="T1",
                                                   user_id="U9") is None
        assert await store.async_find_bot(enterprise_id=None, team_id="T2") is None
        await store.async_delete_installation(enterprise_id=None, team_id="T1")
        assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None


async def test_a_token_under_a_lost_key_reads_as_not_installed(tmp_path: Path) -> None:
    async with await _db(tmp_path) as db:
        await DbInstallationStore(db, TokenCipher(Fernet.generate_key().decode())).async_save(
            Installation(team_id="T1", bot_token="xoxb-1", bot_id="B1", bot_user_id="U1",
                         user_id="U9"))
        other = DbInstallationStore(db, TokenCipher(Fernet.generate_key().decode()))
        assert await other.async_find_bot(enterprise_id=None, team_id="T1") is None


async def test_states_are_single_use_and_expire(tmp_path: Path) -> None:
    async with await _db(tmp_path) as db:
        states = DbOAuthStateStore(db)
        state = await states.async_issue()
        assert await states.async_consume(state) is True
        assert await states.async_consume(state) is False  # replayed
        assert await states.async_consume("never-issued") is False
        expired = DbOAuthStateStore(db, ttl_s=-1)
        assert await expired.async_consume(await expired.async_issue()) is False


async def test_outstanding_states_are_capped_oldest_first(tmp_path: Path) -> None:
    """A flood of /slack/install cannot grow the table: past the cap the oldest links go."""
    async with await _db(tmp_path) as db:
        states = DbOAuthStateStore(db, max_states=5)
        issued = [await states.async_issue() for _ in range(12)]
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(SlackOAuthState)) == 5
        assert await states.async_consume(issued[0]) is False  # pushed out
        assert await states.async_consume(issued[-1]) is True  # the newest still works
        # Expired ones are pruned whatever the cap.
        await DbOAuthStateStore(db, ttl_s=-1).async_issue()
        await states.async_issue()
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(SlackOAuthState)) == 5


async def test_thread_context_is_saved_replaced_and_found(tmp_path: Path) -> None:
    async with await _db(tmp_path) as db:
        threads = DbThreadContextStore(db)
        assert await threads.find(channel_id="D1", thread_ts="1.0") is None
        for channel in ("C1", "C2"):
            await threads.save(channel_id="D1", thread_ts="1.0",
                               context={"channel_id": channel, "team_id": "T1"})
        found = await threads.find(channel_id="D1", thread_ts="1.0")
        assert found is not None and found.channel_id == "C2" and found.team_id == "T1"
