"""SQL for attempts and review cards: what the answer recorder reads and writes, self-ratings
(portable: see bot/storage/port.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from bot.storage.port import Database, Row, Transaction

REVIEW_UPSERT = ("INSERT INTO reviews (member_id, question_id, card, due, reps, lapses) VALUES (?, ?, ?, ?, 1, ?) "
                 "ON CONFLICT (member_id, question_id) DO UPDATE SET card = excluded.card, due = excluded.due, "
                 "reps = reviews.reps + 1, lapses = reviews.lapses + excluded.lapses")


class Answers:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _read(self, tx: Transaction | None, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        """All rows, inside the caller's transaction when there is one, else on the database."""
        if tx is None:
            return await self.db.fetchall(sql, params)
        return list(await (await tx.execute(sql, params)).fetchall())

    # ----------------------------------------------------------------- the recorder's state
    async def lock_members(self, tx: Transaction, members: Collection[int]) -> None:
        """Lock the members' rows (shared backend only) in id order: replicas take turns per member and
        cannot deadlock."""
        ids = sorted(members)
        await self._read(tx, f"SELECT id FROM members WHERE id IN ({_marks(len(ids))}) ORDER BY id FOR UPDATE", ids)

    async def answered_by(self, post_id: int, tx: Transaction | None = None) -> set[int]:
        """The members who answered the post."""
        rows = await self._read(tx, "SELECT member_id FROM attempts WHERE post_id = ?", (post_id,))
        return {r[0] for r in rows}

    async def counts(self, post_id: int, tx: Transaction | None = None) -> tuple[int, int] | None:
        """The post's (answered, correct); None when there is no such post."""
        found = await self._read(tx, "SELECT answered, correct FROM posts WHERE id = ?", (post_id,))
        return (found[0][0], found[0][1]) if found else None

    async def counts_of(self, tx: Transaction, post_ids: Collection[int]) -> list[tuple[int, int, int]]:
        """(post, answered, correct) of each post, read back inside the transaction that just wrote them."""
        ids = sorted(post_ids)
        rows = await self._read(tx, f"SELECT id, answered, correct FROM posts WHERE id IN ({_marks(len(ids))})", ids)
        return [(r[0], r[1], r[2]) for r in rows]

    async def streaks(self, members: Sequence[int],
                      tx: Transaction | None = None) -> list[tuple[int, int, int, int | None]]:
        """(member, streak, best streak, last daily post) of each member."""
        rows = await self._read(
            tx, f"SELECT id, streak, best_streak, last_daily_post FROM members WHERE id IN ({_marks(len(members))})",
            members)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def cards(self, pairs: Collection[tuple[int, str]],
                    tx: Transaction | None = None) -> dict[tuple[int, str], str]:
        """The review card of each (member, question) that has one."""
        # IN lists on each key column use the primary key; a row-value IN (VALUES ...) would scan.
        members, questions = sorted({m for m, _ in pairs}), sorted({q for _, q in pairs})
        rows = await self._read(
            tx, f"SELECT member_id, question_id, card FROM reviews WHERE member_id IN ({_marks(len(members))}) "
            f"AND question_id IN ({_marks(len(questions))})", [*members, *questions])
        return {(r[0], r[1]): r[2] for r in rows}

    async def practice_scored(self, keys: Collection[tuple[int, str, str]],
                              tx: Transaction | None = None) -> list[tuple[int, str, str]]:
        """Which of these (member, question, day) already earned practice points, in the order read."""
        members, questions = sorted({m for m, _, _ in keys}), sorted({q for _, q, _ in keys})
        rows = await self._read(
            tx, f"SELECT member_id, question_id, day FROM attempts WHERE member_id IN ({_marks(len(members))}) "
            f"AND question_id IN ({_marks(len(questions))}) AND kind = 'practice' AND points > 0",
            [*members, *questions])
        wanted = set(keys)
        return [t for r in rows if (t := (r[0], r[1], r[2])) in wanted]

    # ----------------------------------------------------------------- the recorder's writes
    async def insert_attempts(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None:
        await tx.executemany(
            "INSERT INTO attempts (post_id, member_id, community_id, question_id, topic, kind, mode, choice, "
            "answer_text, score, correct, points, missed, created_at, day, week, month, verdict) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    async def update_streaks(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (streak, best streak, last daily post, member)."""
        await tx.executemany("UPDATE members SET streak = ?, best_streak = ?, last_daily_post = ? "
                             "WHERE id = ?", rows)

    async def upsert_reviews(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (member, question, card, due, lapse): a new card, or one more rep of the member's card."""
        await tx.executemany(REVIEW_UPSERT, rows)

    # ----------------------------------------------------------------- reveal and self-ratings
    async def has_answered(self, post_id: int, member: int) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM attempts WHERE post_id = ? AND member_id = ?",
                                     (post_id, member))
        return row is not None

    async def unsure_attempt(self, post_id: int, member: int) -> Row | None:
        """The member's attempt (id, self_rating) when the grader could not tell."""
        row: Row | None = await self.db.fetchone(
            "SELECT id, self_rating FROM attempts WHERE post_id = ? AND member_id = ? "
            "AND verdict = 'unsure'", (post_id, member))
        return row

    async def card(self, member: int, question_id: str) -> str | None:
        row = await self.db.fetchone("SELECT card FROM reviews WHERE member_id = ? AND question_id = ?",
                                     (member, question_id))
        return row["card"] if row else None

    async def set_self_rating(self, tx: Transaction, attempt_id: int, rating: str) -> bool:
        """True when the attempt had no self-rating yet (a second rating is ignored)."""
        cur = await tx.execute("UPDATE attempts SET self_rating = ? WHERE id = ? AND self_rating IS NULL",
                               (rating, attempt_id))
        return bool(cur.rowcount)

    async def upsert_review(self, tx: Transaction, row: tuple[int, str, str, str, int]) -> None:
        """One row of `upsert_reviews`."""
        await tx.execute(REVIEW_UPSERT, row)


def _marks(n: int) -> str:
    return ", ".join("?" * n)
