"""SQL for posts: create, read, counts, message refs, daily history (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database, Row, Transaction


class Posts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, channel_id: int, question_id: str, question_hash: str, *, kind: str, local_date: str,
                     posted_at: str, reveal_at: str | None, choice_order: str,
                     requested_by: int | None) -> int | None:
        """Store a post, a daily one linked to the channel's previous daily; None when the unique index of
        daily posts (one per channel and day) already holds that day's."""
        async with self.db.transaction() as tx:
            prev = await self._previous_daily(tx, channel_id) if kind == "daily" else None
            cur = await tx.execute(
                "INSERT INTO posts (channel_id, question_id, question_hash, kind, local_date, posted_at, "
                "reveal_at, choice_order, prev_daily, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (channel_id, question_id, question_hash, kind, local_date, posted_at, reveal_at, choice_order,
                 prev, requested_by),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None

    @staticmethod
    async def _previous_daily(tx: Transaction, channel_id: int) -> int | None:
        """The channel's latest daily post, read in the creating transaction."""
        cur = await tx.execute(
            "SELECT id FROM posts WHERE channel_id = ? AND kind = 'daily' ORDER BY id DESC LIMIT 1", (channel_id,))
        row = await cur.fetchone()
        return row[0] if row else None

    async def record(self, post_id: int) -> Row | None:
        """Every column of the post, and its channel's community_id."""
        row: Row | None = await self.db.fetchone(
            "SELECT p.*, ch.community_id FROM posts p JOIN channels ch ON ch.id = p.channel_id WHERE p.id = ?",
            (post_id,))
        return row

    async def counts(self, post_id: int) -> tuple[int, int] | None:
        """(answered, correct) as last stored on the post."""
        row = await self.db.fetchone("SELECT answered, correct FROM posts WHERE id = ?", (post_id,))
        return None if row is None else (row["answered"], row["correct"])

    async def daily_id(self, channel_id: int, local_date: str) -> int | None:
        """The channel's daily post of that local date, if made."""
        row = await self.db.fetchone(
            "SELECT id FROM posts WHERE channel_id = ? AND kind = 'daily' AND local_date = ?", (channel_id, local_date))
        return None if row is None else int(row["id"])

    async def set_message_ref(self, post_id: int, ref: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE posts SET message_ref = ? WHERE id = ?", (ref, post_id))

    async def message_ref(self, post_id: int) -> str | None:
        """The platform's id of the message showing the post (to edit it later)."""
        row = await self.db.fetchone("SELECT message_ref FROM posts WHERE id = ?", (post_id,))
        return row["message_ref"] if row else None
