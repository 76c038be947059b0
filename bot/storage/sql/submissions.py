"""SQL for questions written in chat and their review queue (portable: see bot/storage/port.py).

A decision is an UPDATE guarded by `status = 'pending'`: of two admins deciding at once, one changes the row
and the other is told (False)."""

from __future__ import annotations

from bot.storage.port import Database, Row, Transaction


class Submissions:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- writing
    async def add_published(self, tx: Transaction, community: int, *, author: str, author_name: str, topic: str,
                            title: str, entry: str, question_id: str, now: str) -> None:
        """The record of an admin's question, published at once (decided by them, nothing to tell)."""
        await tx.execute(
            "INSERT INTO submissions (community_id, author, author_name, topic, topic_title, entry, status, "
            "question_id, created_at, updated_at, decided_by, decided_at, notified) "
            "VALUES (?, ?, ?, ?, ?, ?, 'published', ?, ?, ?, ?, ?, 1)",
            (community, author, author_name, topic, title, entry, question_id, now, now, author, now))

    async def pending_of(self, tx: Transaction, community: int, author: str, member: int) -> int:
        """How many of the author's submissions wait for review. On a shared backend the member's row is
        locked first, so replicas take one submission of a member at a time and the count holds."""
        if not self.db.single_writer:
            await tx.execute("SELECT id FROM members WHERE id = ? FOR UPDATE", (member,))
        cur = await tx.execute("SELECT COUNT(*) FROM submissions WHERE community_id = ? AND author = ? "
                               "AND status = 'pending'", (community, author))
        return int((await cur.fetchone())[0])

    async def submit(self, tx: Transaction, community: int, *, author: str, author_name: str, topic: str,
                     title: str, entry: str, now: str) -> None:
        """Queue a member's question for review."""
        await tx.execute(
            "INSERT INTO submissions (community_id, author, author_name, topic, topic_title, entry, status, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (community, author, author_name, topic, title, entry, now, now))

    # ----------------------------------------------------------------- the review queue
    async def pending(self, community: int) -> int:
        """How many of the community's submissions wait for review."""
        row = await self.db.fetchone("SELECT COUNT(*) FROM submissions WHERE community_id = ? "
                                     "AND status = 'pending'", (community,))
        return int(row[0]) if row else 0

    async def next_pending(self, community: int, after: int) -> Row | None:
        """The first waiting submission after id `after`: id, author_name, topic_title, entry."""
        row: Row | None = await self.db.fetchone(
            "SELECT id, author_name, topic_title, entry FROM submissions WHERE community_id = ? AND status = 'pending' "
            "AND id > ? ORDER BY id LIMIT 1", (community, after))
        return row

    async def find(self, submission_id: int, community: int) -> Row | None:
        """The submission, in this community only: id, status, topic, topic_title, entry, author."""
        row: Row | None = await self.db.fetchone(
            "SELECT id, status, topic, topic_title, entry, author FROM submissions WHERE id = ? AND community_id = ?",
            (submission_id, community))
        return row

    async def approve(self, tx: Transaction, submission_id: int, decided_by: str, now: str) -> bool:
        """Mark it published; False when it was decided meanwhile."""
        cur = await tx.execute("UPDATE submissions SET status = 'published', decided_by = ?, decided_at = ?, "
                               "updated_at = ? WHERE id = ? AND status = 'pending'",
                               (decided_by, now, now, submission_id))
        return bool(cur.rowcount)

    async def set_question(self, tx: Transaction, submission_id: int, question_id: str) -> None:
        """The served id it was published under."""
        await tx.execute("UPDATE submissions SET question_id = ? WHERE id = ?", (question_id, submission_id))

    async def reject(self, submission_id: int, community: int, *, reason: str, decided_by: str, now: str) -> bool:
        """Reject it with the reason its author is told; False when it no longer waits."""
        async with self.db.transaction() as tx:
            cur = await tx.execute("UPDATE submissions SET status = 'rejected', reason = ?, decided_by = ?, "
                                   "decided_at = ?, updated_at = ? WHERE id = ? AND community_id = ? "
                                   "AND status = 'pending'", (reason, decided_by, now, now, submission_id, community))
        return bool(cur.rowcount)

    async def edit(self, submission_id: int, community: int, *, topic: str, title: str, entry: str,
                   now: str) -> bool:
        """Replace a waiting submission's question; False when it no longer waits."""
        async with self.db.transaction() as tx:
            cur = await tx.execute("UPDATE submissions SET topic = ?, topic_title = ?, entry = ?, updated_at = ? "
                                   "WHERE id = ? AND community_id = ? AND status = 'pending'",
                                   (topic, title, entry, now, submission_id, community))
        return bool(cur.rowcount)

    # ----------------------------------------------------------------- the author hears back
    async def untold(self, community: int, author: str) -> list[Row]:
        """Decisions on the author's submissions not told yet, oldest first: id, status, reason, topic_title,
        entry."""
        rows: list[Row] = await self.db.fetchall(
            "SELECT id, status, reason, topic_title, entry FROM submissions WHERE community_id = ? AND author = ? "
            "AND notified = 0 AND status <> 'pending' ORDER BY id", (community, author))
        return rows

    async def mark_told(self, submission_id: int) -> bool:
        """True for the one caller that marks it; another replica may have told the author already."""
        async with self.db.transaction() as tx:
            cur = await tx.execute("UPDATE submissions SET notified = 1 WHERE id = ? AND notified = 0",
                                   (submission_id,))
        return bool(cur.rowcount)
