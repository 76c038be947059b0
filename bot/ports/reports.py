"""The storage port for the weekly digest's and status's reads."""

from __future__ import annotations

from typing import Protocol

from bot.storage.port import Row


class ReportsPort(Protocol):
    """Implemented by bot/storage/sql/reports.py for both backends. A week is [start, end) in ISO dates."""

    async def posted_at(self, post_id: int) -> str | None: ...

    async def fastest_correct(self, post_id: int) -> tuple[str, str] | None:
        """(display name, answered at) of the first right answer to the post."""
        ...

    async def missed_points(self, post_id: int) -> list[str]:
        """The key points written answers missed, once per answer that missed each."""
        ...

    async def longest_streaks(self, community: int) -> list[tuple[str, int]]:
        """The three longest running streaks as (display name, streak)."""
        ...

    async def most_missed_question(self, community: int, start: str, end: str) -> Row | None:
        """The week's question answered right least often: question_id, n (answers), ok (right)."""
        ...

    async def topic_accuracy(self, community: int, start: str, end: str) -> list[tuple[str, int, int]]:
        """(topic, right, answered) for the week, most answered first."""
        ...

    async def participation(self, community: int, start: str, end: str) -> tuple[int, int]:
        """(members who answered, answers) in the week."""
        ...
