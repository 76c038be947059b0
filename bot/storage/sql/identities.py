"""SQL for communities, channels and members: ids by platform id, member upserts (portable: see bot/storage/port.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.port import Database, Row, Transaction


class Identities:
    def __init__(self, db: Database) -> None:
        self.db = db

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
