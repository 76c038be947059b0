"""SQL for channel settings: setup, digest, pause, pool, scheduled channels (portable: see bot/storage/port.py).

Each write is its own transaction: a setting is one UPDATE of the channel's row."""

from __future__ import annotations

from bot.storage.port import Database


class Channels:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def setup(self, channel_id: int, *, post_time: str, timezone: str, weekdays: str, topics: str,
                    difficulties: str, reveal_minutes: int | None, configured_by: str, enabled_at: str) -> None:
        """Enable (and unpause) the daily question. The digest keeps its settings; a channel set up for the
        first time gets one on Mondays, in the channel, at the question's time."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE channels SET enabled = 1, paused = 0, post_time = ?, timezone = ?, weekdays = ?, topics = ?, "
                "difficulty_mix = ?, reveal_minutes = ?, configured_by = ?, enabled_at = ?, "
                "digest_channel = COALESCE(digest_channel, external_id), digest_weekday = COALESCE(digest_weekday, "
                "'mon'), digest_time = COALESCE(digest_time, ?) WHERE id = ?",
                (post_time, timezone, weekdays, topics, difficulties, reveal_minutes, configured_by, enabled_at,
                 post_time, channel_id))

    async def set_digest(self, channel_id: int, *, target: str, weekday: str, at: str) -> None:
        """The channel's community digest goes to channel `target` (a platform id) on `weekday` at `at`."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE channels SET digest_channel = ?, digest_weekday = ?, digest_time = ? "
                             "WHERE id = ?", (target, weekday, at, channel_id))

    async def set_paused(self, channel_id: int, paused: bool) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE channels SET paused = ? WHERE id = ?", (int(paused), channel_id))

    async def set_pool(self, channel_id: int, pool: str) -> None:
        """Where the channel's questions come from: shipped, own or both."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE channels SET pool = ? WHERE id = ?", (pool, channel_id))
