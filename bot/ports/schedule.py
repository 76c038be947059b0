"""The storage port for scheduled runs (claims) and the scheduler lease."""

from __future__ import annotations

from typing import Protocol

RunKey = tuple[int, str, str]  # (channel id, kind, local date)


class ScheduleRunsPort(Protocol):
    """Implemented by bot/storage/sql/schedule.py for both backends. Times and dates are ISO-8601 text."""

    async def acquire_lease(self, name: str, holder: str, until: str, now: str) -> bool:
        """Take or renew `name` until `until`: only its holder, or anyone once it expired before `now`."""
        ...

    async def release_lease(self, name: str, holder: str) -> None: ...

    async def settled_since(self, since: str, stale_before: str) -> set[RunKey]:
        """Runs from `since` on, but those left `running` before `stale_before`: they are due again."""
        ...

    async def claim(self, key: RunKey, due_at: str, now: str, outcome: str, stale_before: str) -> bool:
        """True for the one caller that may do the run (a new claim, or a stale `running` one taken over)."""
        ...

    async def finish(self, key: RunKey, outcome: str, post_id: int | None, now: str) -> None: ...

    async def daily_reveals_since(self, since: str) -> dict[tuple[int, str], bool]:
        """(channel id, local date) -> revealed?, for the daily posts from `since` on."""
        ...

    async def existing_daily(self, channel_id: int, local_date: str) -> tuple[int, str | None] | None:
        """The day's daily post as (id, message ref), if made."""
        ...

    async def daily_post_id(self, channel_id: int, local_date: str) -> int | None: ...

    async def daily_question_counts(self, channel_id: int) -> dict[str, int]: ...

    async def mark_daily_revealed(self, channel_id: int, local_date: str, now: str) -> list[int]:
        """The ids of the day's daily posts revealed by this call."""
        ...
