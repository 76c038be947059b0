"""The storage port for the questions table (bank sync) and communities' own questions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.storage.port import Row, Transaction

BankRow = tuple[str, str, str, str, str, str]  # id, topic, difficulty, content hash, added at, updated at


class QuestionsPort(Protocol):
    """Implemented by bot/storage/sql/questions.py for both backends. Entries are bank entries as JSON text."""

    # The shipped bank, at start-up.
    async def sync(self, rows: Sequence[BankRow], merged: Sequence[tuple[str, str]]) -> None:
        """Mirror the bank's rows (the rest go inactive); move (alias, survivor) merges' review cards."""
        ...

    # Practice.
    async def reviews_by_due(self, member: int) -> list[Row]:
        """question_id, due; soonest first."""
        ...

    async def seen_by(self, member: int) -> set[str]: ...

    # Communities' own questions.
    async def published_stamp(self, community: int) -> tuple[int, str]:
        """Changes whenever the community's published questions do."""
        ...

    async def community_published(self, community: int) -> list[tuple[str, str, str, str]]:
        """(served id, topic, title, entry)."""
        ...

    async def community_entries(self, community: int) -> list[tuple[str, str, str, str]]:
        """(slug, topic, title, entry)."""
        ...

    # Storing them: in the caller's transaction.
    async def slug_taken(self, tx: Transaction, community: int, slug: str) -> bool: ...

    async def upsert_imported(self, tx: Transaction, community: int, slug: str, question_id: str, *, topic: str,
                              title: str, entry: str, author: str, now: str) -> None: ...

    async def register_imported(self, tx: Transaction, question_id: str, *, topic: str, difficulty: str,
                                now: str) -> None: ...

    async def insert_published(self, tx: Transaction, community: int, slug: str, question_id: str, *, topic: str,
                               title: str, entry: str, author: str, now: str) -> bool:
        """False when the slug is taken."""
        ...

    async def register_published(self, tx: Transaction, question_id: str, *, topic: str, difficulty: str,
                                 content_hash: str, now: str) -> None: ...
