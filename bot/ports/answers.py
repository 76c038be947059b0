"""The storage port for attempts and review cards: what the answer recorder reads and writes, self-ratings.

Methods taking a `tx` run inside the caller's transaction (the recorder's batch); where it is optional,
None reads on the database (a single writer's cache fill) and a transaction reads what it locked (a shared
backend).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from bot.storage.port import Row, Transaction


class AnswersPort(Protocol):
    """Implemented by bot/storage/sql/answers.py for both backends."""

    # The recorder's state.
    async def lock_members(self, tx: Transaction, members: Collection[int]) -> None: ...

    async def answered_by(self, post_id: int, tx: Transaction | None = None) -> set[int]: ...

    async def counts(self, post_id: int, tx: Transaction | None = None) -> tuple[int, int] | None: ...

    async def counts_of(self, tx: Transaction, post_ids: Collection[int]) -> list[tuple[int, int, int]]: ...

    async def streaks(self, members: Sequence[int],
                      tx: Transaction | None = None) -> list[tuple[int, int, int, int | None]]: ...

    async def cards(self, pairs: Collection[tuple[int, str]],
                    tx: Transaction | None = None) -> dict[tuple[int, str], str]: ...

    async def practice_scored(self, keys: Collection[tuple[int, str, str]],
                              tx: Transaction | None = None) -> list[tuple[int, str, str]]: ...

    # The recorder's writes.
    async def insert_attempts(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None: ...

    async def update_streaks(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None: ...

    async def upsert_reviews(self, tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None: ...

    # Reveal and self-ratings.
    async def has_answered(self, post_id: int, member: int) -> bool: ...

    async def unsure_attempt(self, post_id: int, member: int) -> Row | None: ...

    async def card(self, member: int, question_id: str) -> str | None: ...

    async def set_self_rating(self, tx: Transaction, attempt_id: int, rating: str) -> bool: ...

    async def upsert_review(self, tx: Transaction, row: tuple[int, str, str, str, int]) -> None: ...
