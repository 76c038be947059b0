"""The storage port for leaderboard totals, the rolling board, member stats and misses."""

from __future__ import annotations

from typing import Protocol

from bot.storage.port import Row


class BoardsPort(Protocol):
    """Implemented by bot/storage/sql/boards.py for both backends. Days and times are ISO-8601 text."""

    async def standings(self, community: int, period: str, key: str, topic: str, limit: int) -> list[Row]:
        """The top `limit` with points: points, correct, answered, display_name, best first."""
        ...

    async def rolling_as_of(self, community: int, topic: str) -> str | None:
        """The day the rolling 30-day totals were last built for."""
        ...

    async def refresh_rolling(self, community: int, topic: str, today: str, after: str) -> None:
        """Rebuild the 30-day totals ending `today` from the daily totals after `after`."""
        ...

    async def all_time_totals(self, community: int, member: int) -> list[Row]:
        """topic ("" overall), points, correct, answered."""
        ...

    async def member_streaks(self, member: int) -> Row | None:
        """display_name, streak, best_streak."""
        ...

    async def reviews_due(self, member: int, now: str) -> int: ...

    async def missed_question_ids(self, member: int) -> list[str]:
        """Questions answered wrong (not self-rated or unsure), latest miss first."""
        ...
