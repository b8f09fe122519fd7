"""JSON columns go through orjson, and what it refuses still round-trips."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from heavy_engine.db import ChannelSettings, Database, utcnow


async def test_json_columns_round_trip_and_a_lone_surrogate_is_not_an_error(
        tmp_path: Path) -> None:
    async with await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}") as db:
        async with db.session() as session, session.begin():
            session.add(ChannelSettings(platform="slack", workspace="T1", channel="C1",
                                        overrides={"system_prompt": "naïve ✓ \ud83d!"},
                                        updated_by="U1", updated_at=utcnow()))
            # as an older version wrote it: the standard library's escaped lone surrogate
            await session.execute(text(
                "INSERT INTO channel_settings (platform, workspace, channel, overrides, "
                "version, updated_by, updated_at) VALUES ('slack', 'T1', 'C2', "
                "'{\"system_prompt\": \"old \\ud83d\"}', 1, 'U1', '2026-01-01 00:00:00')"))
        async with db.session() as session:
            rows = {row.channel: row.overrides for row in await session.scalars(
                select(ChannelSettings))}
    assert rows["C1"] == {"system_prompt": "naïve ✓ ?!"}
    assert rows["C2"] == {"system_prompt": "old \ud83d"}
