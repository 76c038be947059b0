"""SQL for the questions table (bank sync) and communities' own questions (portable: see bot/storage/port.py).

Posts refer to questions by id, so every question served (the shipped bank's and each community's published
ones) has a row in `questions`; a community's own questions live in `community_questions` besides."""

from __future__ import annotations

from collections.abc import Sequence

from bot.ports.questions import BankRow
from bot.storage.port import Database, Row, Transaction


class Questions:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- the shipped bank
    async def sync(self, rows: Sequence[BankRow], merged: Sequence[tuple[str, str]]) -> None:
        """Mirror the bank in one transaction: its rows active (updated_at moves only when the content
        changed), the rest inactive, and each (alias, survivor) merge's review cards moved to the survivor."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE questions SET active = 0 WHERE id NOT IN (SELECT id FROM community_questions "
                             "WHERE status = 'published')")  # communities' own questions are not the bank's
            await tx.executemany(
                "INSERT INTO questions (id, topic, difficulty, content_hash, active, added_at, updated_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, "
                "difficulty = excluded.difficulty, active = 1, content_hash = excluded.content_hash, "
                "updated_at = CASE WHEN questions.content_hash != excluded.content_hash THEN excluded.updated_at "
                "ELSE questions.updated_at END",
                rows,
            )
            await self._merge_reviews(tx, merged)

    @staticmethod
    async def _merge_reviews(tx: Transaction, merged: Sequence[tuple[str, str]]) -> None:
        """Spaced repetition carries on under the survivor's id; attempts keep theirs (they are history).
        A member who has cards for both keeps the survivor's; the alias's is dropped."""
        await tx.executemany("UPDATE reviews SET question_id = ? WHERE question_id = ? AND NOT EXISTS "
                             "(SELECT 1 FROM reviews AS r WHERE r.member_id = reviews.member_id "
                             "AND r.question_id = ?)", [(survivor, alias, survivor) for alias, survivor in merged])
        await tx.executemany("DELETE FROM reviews WHERE question_id = ?", [(alias,) for alias, _ in merged])

    # ----------------------------------------------------------------- practice
    async def reviews_by_due(self, member: int) -> list[Row]:
        """The member's review cards, soonest due first: question_id, due."""
        rows: list[Row] = await self.db.fetchall(
            "SELECT question_id, due FROM reviews WHERE member_id = ? ORDER BY due", (member,))
        return rows

    async def seen_by(self, member: int) -> set[str]:
        """The ids of questions the member answered or has a card for."""
        rows = await self.db.fetchall(
            "SELECT question_id FROM attempts WHERE member_id = ? UNION SELECT question_id FROM reviews "
            "WHERE member_id = ?", (member, member))
        return {r[0] for r in rows}

    # ----------------------------------------------------------------- communities' own questions
    async def published_stamp(self, community: int) -> tuple[int, str]:
        """(how many, latest updated_at) of the community's published questions: it changes whenever they do."""
        row = await self.db.fetchone(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM community_questions WHERE community_id = ? "
            "AND status = 'published'", (community,))
        return (int(row[0]), str(row[1])) if row else (0, "")

    async def community_published(self, community: int) -> list[tuple[str, str, str, str]]:
        """The community's published questions as served: (id, topic, title, entry JSON)."""
        rows = await self.db.fetchall(
            "SELECT id, topic, topic_title, entry FROM community_questions WHERE community_id = ? "
            "AND status = 'published' ORDER BY topic, created_at, slug", (community,))
        return [(r["id"], r["topic"], r["topic_title"], r["entry"]) for r in rows]

    async def community_entries(self, community: int) -> list[tuple[str, str, str, str]]:
        """The community's published questions as written, for export: (slug, topic, title, entry JSON)."""
        rows = await self.db.fetchall(
            "SELECT slug, topic, topic_title, entry FROM community_questions WHERE community_id = ? "
            "AND status = 'published' ORDER BY topic, created_at, slug", (community,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def slug_taken(self, tx: Transaction, community: int, slug: str) -> bool:
        cur = await tx.execute("SELECT 1 FROM community_questions WHERE community_id = ? AND slug = ?",
                               (community, slug))
        return bool(await cur.fetchone())

    async def upsert_imported(self, tx: Transaction, community: int, slug: str, question_id: str, *, topic: str,
                              title: str, entry: str, author: str, now: str) -> None:
        """Publish an imported entry under its slug; importing it again updates it in place."""
        await tx.execute(
            "INSERT INTO community_questions (community_id, slug, id, topic, topic_title, entry, status, "
            "author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'published', ?, ?, ?) "
            "ON CONFLICT (community_id, slug) DO UPDATE SET topic = excluded.topic, "
            "entry = excluded.entry, topic_title = excluded.topic_title, status = 'published', "
            "updated_at = excluded.updated_at",
            (community, slug, question_id, topic, title, entry, author, now, now))

    async def register_imported(self, tx: Transaction, question_id: str, *, topic: str, difficulty: str,
                                now: str) -> None:
        """The `questions` row of an imported question (no content hash)."""
        await tx.execute(
            "INSERT INTO questions (id, topic, difficulty, content_hash, active, added_at, updated_at) "
            "VALUES (?, ?, ?, '', 1, ?, ?) ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, "
            "difficulty = excluded.difficulty, updated_at = excluded.updated_at",
            (question_id, topic, difficulty, now, now))

    async def insert_published(self, tx: Transaction, community: int, slug: str, question_id: str, *, topic: str,
                               title: str, entry: str, author: str, now: str) -> bool:
        """Publish a question written in chat under `slug`; False when the community has that slug already."""
        cur = await tx.execute(
            "INSERT INTO community_questions (community_id, slug, id, topic, topic_title, entry, status, author, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'published', ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (community, slug, question_id, topic, title, entry, author, now, now))
        return await cur.fetchone() is not None

    async def register_published(self, tx: Transaction, question_id: str, *, topic: str, difficulty: str,
                                 content_hash: str, now: str) -> None:
        """The `questions` row of a question written in chat, active."""
        await tx.execute(
            "INSERT INTO questions (id, topic, difficulty, content_hash, active, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, "
            "difficulty = excluded.difficulty, content_hash = excluded.content_hash, active = 1, "
            "updated_at = excluded.updated_at", (question_id, topic, difficulty, content_hash, now, now))
