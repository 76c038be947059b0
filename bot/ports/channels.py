"""The storage port for channel settings: setup, digest, pause, pool, scheduled channels."""

from __future__ import annotations

from typing import Protocol


class ChannelsPort(Protocol):
    """Implemented by bot/storage/sql/channels.py for both backends. Lists are comma-separated text."""

    async def setup(self, channel_id: int, *, post_time: str, timezone: str, weekdays: str, topics: str,
                    difficulties: str, reveal_minutes: int | None, configured_by: str, enabled_at: str) -> None:
        """Enable the daily question; a digest not set yet gets Mondays, this channel, `post_time`."""
        ...

    async def set_digest(self, channel_id: int, *, target: str, weekday: str, at: str) -> None: ...

    async def set_paused(self, channel_id: int, paused: bool) -> None: ...

    async def set_pool(self, channel_id: int, pool: str) -> None: ...
