"""SQL for appeals and accepted answers (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database, Row, Transaction


class Appeals:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def appealable_attempt(self, post_id: int, member: int) -> Row | None:
        """The member's attempt at the post: id, mode, correct, community_id."""
        row: Row | None = await self.db.fetchone(
            "SELECT id, mode, correct, community_id FROM attempts WHERE post_id = ? "
            "AND member_id = ?", (post_id, member))
        return row

    async def file(self, attempt_id: int, community_id: int, created_at: str) -> bool:
        """A pending appeal of the attempt; False when it was appealed already."""
        async with self.db.transaction() as tx:
            cur = await tx.execute("INSERT INTO appeals (attempt_id, community_id, created_at) VALUES (?, ?, ?) "
                                   "ON CONFLICT (attempt_id) DO NOTHING", (attempt_id, community_id, created_at))
        return bool(cur.rowcount)

    async def open(self, community: int) -> list[Row]:
        """The community's pending appeals, oldest first: id, display_name, question_id, answer_text, score,
        missed (JSON), verdict."""
        rows: list[Row] = await self.db.fetchall(
            "SELECT ap.id, m.display_name, a.question_id, a.answer_text, a.score, a.missed, a.verdict FROM appeals ap "
            "JOIN attempts a ON a.id = ap.attempt_id JOIN members m ON m.id = a.member_id "
            "WHERE ap.community_id = ? AND ap.status = 'pending' ORDER BY ap.id", (community,))
        return rows

    async def with_attempt(self, appeal_id: int, community: int) -> Row | None:
        """The appeal (in this community only) and its attempt: status, id (the attempt's), post_id,
        question_id, kind, answer_text, points."""
        row: Row | None = await self.db.fetchone(
            "SELECT ap.status, a.id, a.post_id, a.question_id, a.kind, a.answer_text, a.points FROM appeals ap "
            "JOIN attempts a ON a.id = ap.attempt_id WHERE ap.id = ? AND ap.community_id = ?", (appeal_id, community))
        return row

    async def reject(self, appeal_id: int, decided_by: str, decided_at: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE appeals SET status = 'rejected', decided_by = ?, decided_at = ? WHERE id = ?",
                             (decided_by, decided_at, appeal_id))

    async def rescore_correct(self, tx: Transaction, attempt_id: int, points: int) -> None:
        """The attempt counts as correct with these points."""
        # The attempts_rescore trigger moves the difference into every board the attempt counted in.
        await tx.execute("UPDATE attempts SET points = ?, correct = 1, score = 1.0, verdict = 'correct' "
                         "WHERE id = ?", (points, attempt_id))

    async def mark_upheld(self, tx: Transaction, appeal_id: int, decided_by: str, decided_at: str) -> None:
        await tx.execute("UPDATE appeals SET status = 'upheld', decided_by = ?, decided_at = ? WHERE id = ?",
                         (decided_by, decided_at, appeal_id))

    async def accept_answer(self, tx: Transaction, community: int, question_id: str, *, normalized: str,
                            answer: str, added_at: str) -> None:
        """From now on this answer (by its normalized form) is correct for the question in the community."""
        await tx.execute(
            "INSERT INTO accepted_answers (community_id, question_id, normalized, answer, added_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (community, question_id, normalized, answer, added_at))

    async def is_accepted(self, community: int, question_id: str, normalized: str) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM accepted_answers WHERE community_id = ? AND question_id = ? "
                                     "AND normalized = ?", (community, question_id, normalized))
        return row is not None
