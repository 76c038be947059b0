"""The storage port for appeals and accepted answers."""

from __future__ import annotations

from typing import Protocol

from bot.storage.port import Row, Transaction


class AppealsPort(Protocol):
    """Implemented by bot/storage/sql/appeals.py for both backends."""

    async def appealable_attempt(self, post_id: int, member: int) -> Row | None: ...

    async def file(self, attempt_id: int, community_id: int, created_at: str) -> bool: ...

    async def open(self, community: int) -> list[Row]: ...

    async def with_attempt(self, appeal_id: int, community: int) -> Row | None: ...

    async def reject(self, appeal_id: int, decided_by: str, decided_at: str) -> None: ...

    # Upholding: one transaction, the caller's.
    async def rescore_correct(self, tx: Transaction, attempt_id: int, points: int) -> None: ...

    async def mark_upheld(self, tx: Transaction, appeal_id: int, decided_by: str, decided_at: str) -> None: ...

    async def accept_answer(self, tx: Transaction, community: int, question_id: str, *, normalized: str,
                            answer: str, added_at: str) -> None: ...

    async def is_accepted(self, community: int, question_id: str, normalized: str) -> bool: ...
