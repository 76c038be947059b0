"""The storage port for communities, channels and members: ids by platform id, member upserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.storage.port import Row, Transaction


class IdentitiesPort(Protocol):
    """Implemented by bot/storage/sql/identities.py for both backends."""

    # Communities and channels: ids by platform id, created on first sight (each in its own transaction).
    async def community_id(self, platform: str, external: str, name: str, now: str) -> int: ...

    async def channel_id(self, community: int, external: str, name: str, timezone: str) -> int: ...

    async def communities_by_external_id(self, external: str, platform: str = "") -> list[Row]:
        """id, platform; any platform for ''."""
        ...

    async def channel_settings(self, channel_id: int) -> Row | None:
        """The channel's row with platform and community_external."""
        ...

    async def scheduled_channels(self) -> list[Row]:
        """Those rows for the channels with the daily question enabled."""
        ...

    async def existing_member_id(self, community: int, external: str) -> int | None: ...

    # Members (bot/members.py: group-committed upserts, inside its transaction).
    async def upsert_members(self, tx: Transaction, rows: Sequence[tuple[int, str, str]]) -> None: ...

    async def member_rows(self, tx: Transaction, community: int, users: Sequence[str]) -> Sequence[Row]: ...
