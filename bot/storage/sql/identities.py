"""SQL for communities, channels and members: ids by platform id, member upserts (portable: see bot/storage/port.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.port import Database, Row, Transaction


class Identities:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- communities and channels
    async def community_id(self, platform: str, external: str, name: str, now: str) -> int:
        """The community's id, created on first sight (at `now`); its name follows the platform's."""
        return await self._upsert_id(
            "INSERT INTO communities (platform, external_id, name, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, external_id) DO UPDATE SET name = excluded.name RETURNING id",
            (platform, external, name, now))

    async def channel_id(self, community: int, external: str, name: str, timezone: str) -> int:
        """The channel's id, created on first sight with `name` and `timezone` (both kept afterwards)."""
        return await self._upsert_id(
            "INSERT INTO channels (community_id, external_id, name, timezone) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (community_id, external_id) DO UPDATE SET name = channels.name RETURNING id",
            (community, external, name, timezone))

    async def _upsert_id(self, sql: str, params: tuple[object, ...]) -> int:
        """The id an upsert ... RETURNING id gives, in its own transaction (a no-op update still returns it)."""
        async with self.db.transaction() as tx:
            cur = await tx.execute(sql, params)
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def communities_by_external_id(self, external: str, platform: str = "") -> list[Row]:
        """id, platform of the communities with this platform id, on `platform` ('' for any)."""
        rows: list[Row] = await self.db.fetchall("SELECT id, platform FROM communities WHERE external_id = ? "
                                                 "AND (? = '' OR platform = ?)", (external, platform, platform))
        return rows

    async def channel_settings(self, channel_id: int) -> Row | None:
        """The channel's row with its community's platform and community_external (its platform id)."""
        row: Row | None = await self.db.fetchone(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.id = ?", (channel_id,))
        return row

    async def scheduled_channels(self) -> list[Row]:
        """The same rows as `channel_settings` for every channel with the daily question enabled, by id."""
        rows: list[Row] = await self.db.fetchall(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.enabled = 1 ORDER BY ch.id")
        return rows

    async def existing_member_id(self, community: int, external: str) -> int | None:
        """The member's id, without creating one."""
        row = await self.db.fetchone("SELECT id FROM members WHERE community_id = ? AND external_id = ?",
                                     (community, external))
        return int(row["id"]) if row else None

    # ----------------------------------------------------------------- members (bot/members.py)
    async def upsert_members(self, tx: Transaction, rows: Sequence[tuple[int, str, str]]) -> None:
        """Rows of (community, external id, display name): created, or renamed."""
        await tx.executemany(
            "INSERT INTO members (community_id, external_id, display_name) VALUES (?, ?, ?) "
            "ON CONFLICT (community_id, external_id) DO UPDATE SET display_name = excluded.display_name", rows)

    async def member_rows(self, tx: Transaction, community: int, users: Sequence[str]) -> Sequence[Row]:
        """The community's members by external id: external_id, id, streak, best_streak, last_daily_post."""
        cur = await tx.execute(
            "SELECT external_id, id, streak, best_streak, last_daily_post FROM members WHERE community_id = ? "
            f"AND external_id IN ({', '.join('?' * len(users))})", (community, *users))
        rows: Sequence[Row] = await cur.fetchall()
        return rows
