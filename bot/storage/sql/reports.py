"""SQL for the weekly digest's and status's reads (portable: see bot/storage/port.py). Read-only.

The digest's week is [start, end) over attempts' `day` (ISO dates); self-rated attempts never count as
right or wrong, so the accuracy reads leave them out."""

from __future__ import annotations

import json

from bot.storage.port import Database, Row


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- the reveal
    async def posted_at(self, post_id: int) -> str | None:
        row = await self.db.fetchone("SELECT posted_at FROM posts WHERE id = ?", (post_id,))
        return None if row is None else str(row[0])

    async def fastest_correct(self, post_id: int) -> tuple[str, str] | None:
        """(display name, answered at) of the first right answer to the post."""
        row = await self.db.fetchone(
            "SELECT m.display_name, a.created_at FROM attempts a JOIN members m ON m.id = a.member_id "
            "WHERE a.post_id = ? AND a.correct = 1 ORDER BY a.created_at, a.id LIMIT 1", (post_id,))
        return None if row is None else (row[0], row[1])

    async def missed_points(self, post_id: int) -> list[str]:
        """Every key point written answers to the post missed, once per answer that missed it."""
        rows = await self.db.fetchall("SELECT missed FROM attempts WHERE post_id = ? AND mode = 'text'", (post_id,))
        return [point for r in rows for point in json.loads(r[0])]

    # ----------------------------------------------------------------- the weekly digest
    async def longest_streaks(self, community: int) -> list[tuple[str, int]]:
        """The three longest running streaks as (display name, streak)."""
        rows = await self.db.fetchall(
            "SELECT display_name, streak FROM members WHERE community_id = ? AND streak > 0 "
            "ORDER BY streak DESC, id LIMIT 3", (community,))
        return [(r[0], r[1]) for r in rows]

    async def most_missed_question(self, community: int, start: str, end: str) -> Row | None:
        """The week's question with the lowest share of right answers: question_id, n, ok."""
        row: Row | None = await self.db.fetchone(
            "SELECT question_id, COUNT(*) AS n, SUM(correct) AS ok FROM attempts WHERE community_id = ? "
            "AND day >= ? AND day < ? AND mode != 'self' GROUP BY question_id HAVING n > 0 "
            "ORDER BY 1.0 * ok / n, n DESC LIMIT 1", (community, start, end))
        return row

    async def topic_accuracy(self, community: int, start: str, end: str) -> list[tuple[str, int, int]]:
        """(topic, right, answered) for the week, most answered first."""
        rows = await self.db.fetchall(
            "SELECT topic, SUM(correct) AS ok, COUNT(*) AS n FROM attempts WHERE community_id = ? AND day >= ? "
            "AND day < ? AND mode != 'self' GROUP BY topic ORDER BY n DESC", (community, start, end))
        return [(r[0], r[1], r[2]) for r in rows]

    async def participation(self, community: int, start: str, end: str) -> tuple[int, int]:
        """(members who answered, answers) in the week."""
        row = await self.db.fetchone(
            "SELECT COUNT(DISTINCT member_id), COUNT(*) FROM attempts WHERE community_id = ? AND day >= ? "
            "AND day < ?", (community, start, end))
        assert row is not None  # an aggregate without GROUP BY always has its row
        return (row[0], row[1])
