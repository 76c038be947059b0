"""The storage port for questions written in chat and their review queue."""

from __future__ import annotations

from typing import Protocol

from bot.storage.port import Row, Transaction


class SubmissionsPort(Protocol):
    """Implemented by bot/storage/sql/submissions.py for both backends. A decision returns False when the
    submission no longer waits (another admin decided it meanwhile)."""

    # Writing: in the caller's transaction.
    async def add_published(self, tx: Transaction, community: int, *, author: str, author_name: str, topic: str,
                            title: str, entry: str, question_id: str, now: str) -> None: ...

    async def pending_of(self, tx: Transaction, community: int, author: str, member: int) -> int:
        """The author's waiting submissions, counted under a lock of the member on a shared backend."""
        ...

    async def submit(self, tx: Transaction, community: int, *, author: str, author_name: str, topic: str,
                     title: str, entry: str, now: str) -> None: ...

    # The review queue.
    async def pending(self, community: int) -> int: ...

    async def next_pending(self, community: int, after: int) -> Row | None:
        """id, author_name, topic_title, entry."""
        ...

    async def find(self, submission_id: int, community: int) -> Row | None:
        """id, status, topic, topic_title, entry, author."""
        ...

    async def approve(self, tx: Transaction, submission_id: int, decided_by: str, now: str) -> bool: ...

    async def set_question(self, tx: Transaction, submission_id: int, question_id: str) -> None: ...

    async def reject(self, submission_id: int, community: int, *, reason: str, decided_by: str,
                     now: str) -> bool: ...

    async def edit(self, submission_id: int, community: int, *, topic: str, title: str, entry: str,
                   now: str) -> bool: ...

    # The author hears back.
    async def untold(self, community: int, author: str) -> list[Row]:
        """id, status, reason, topic_title, entry."""
        ...

    async def mark_told(self, submission_id: int) -> bool: ...
