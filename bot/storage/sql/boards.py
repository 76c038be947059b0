"""SQL for leaderboard totals, the rolling board, member stats and misses (portable: see bot/storage/port.py).

Boards read the pre-aggregated `totals` (kept current by the attempts trigger of each backend). The rolling
30-day board has no fixed period key: it is rebuilt from the daily totals once a day per (community, topic),
`rolling_meta` remembering the day it was built for."""

from __future__ import annotations

from bot.storage.port import Database, Row


class Boards:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def standings(self, community: int, period: str, key: str, topic: str, limit: int) -> list[Row]:
        """The best `limit` members with points in the period (key) and topic ("" for all): points, correct,
        answered, display_name. Ties go to more correct answers, then to whoever got there first."""
        return await self.db.fetchall(
            "SELECT t.points, t.correct, t.answered, m.display_name FROM totals t JOIN members m "
            "ON m.id = t.member_id WHERE t.community_id = ? AND t.period = ? AND t.period_key = ? AND t.topic = ? "
            "AND t.points > 0 ORDER BY t.points DESC, t.correct DESC, t.last_at, t.member_id LIMIT ?",
            (community, period, key, topic, limit))

    async def rolling_as_of(self, community: int, topic: str) -> str | None:
        """The day the rolling 30-day totals of (community, topic) were last built for."""
        row = await self.db.fetchone("SELECT as_of FROM rolling_meta WHERE community_id = ? AND topic = ?",
                                     (community, topic))
        return None if row is None else str(row["as_of"])

    async def refresh_rolling(self, community: int, topic: str, today: str, after: str) -> None:
        """Rebuild the 30-day totals ending `today` from the daily ones after `after`, in one transaction."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM totals WHERE community_id = ? AND period = '30d' AND topic = ?",
                             (community, topic))
            await tx.execute(
                "INSERT INTO totals (community_id, period, period_key, topic, member_id, points, correct, "
                "answered, last_at) SELECT CAST(? AS BIGINT), '30d', CAST(? AS TEXT), CAST(? AS TEXT), member_id, "
                "SUM(points), SUM(correct), "
                "SUM(answered), MAX(last_at) FROM totals WHERE community_id = ? AND period = 'day' AND topic = ? "
                "AND period_key > ? AND period_key <= ? GROUP BY member_id "
                "ON CONFLICT (community_id, period, period_key, topic, member_id) DO NOTHING",  # a replica raced us
                (community, today, topic, community, topic, after, today))
            await tx.execute(
                "INSERT INTO rolling_meta (community_id, topic, as_of) VALUES (?, ?, ?) "
                "ON CONFLICT (community_id, topic) DO UPDATE SET as_of = excluded.as_of", (community, topic, today))

    async def all_time_totals(self, community: int, member: int) -> list[Row]:
        """The member's all-time totals, overall (topic "") and per topic: topic, points, correct, answered."""
        return await self.db.fetchall(
            "SELECT topic, points, correct, answered FROM totals WHERE community_id = ? AND period = 'all' "
            "AND period_key = 'all' AND member_id = ?", (community, member))

    async def member_streaks(self, member: int) -> Row | None:
        """display_name, streak, best_streak."""
        row: Row | None = await self.db.fetchone(
            "SELECT display_name, streak, best_streak FROM members WHERE id = ?", (member,))
        return row

    async def reviews_due(self, member: int, now: str) -> int:
        """How many of the member's review cards are due at `now`."""
        row = await self.db.fetchone("SELECT COUNT(*) FROM reviews WHERE member_id = ? AND due <= ?", (member, now))
        assert row is not None  # an aggregate without GROUP BY always has its row
        return int(row[0])

    async def missed_question_ids(self, member: int) -> list[str]:
        """Questions the member got wrong (by choice or in words; not self-rated or unsure), latest miss first."""
        rows = await self.db.fetchall(
            "SELECT question_id, MAX(id) AS latest FROM attempts WHERE member_id = ? AND correct = 0 "
            "AND mode != 'self' AND COALESCE(verdict, '') != 'unsure' GROUP BY question_id ORDER BY latest DESC",
            (member,))
        return [r["question_id"] for r in rows]
