"""The storage port for communities, channels and members: ids by platform id, member upserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.storage.port import Row, Transaction


class IdentitiesPort(Protocol):
    """Implemented by bot/storage/sql/identities.py for both backends."""

    # Members (bot/members.py: group-committed upserts, inside its transaction).
    async def upsert_members(self, tx: Transaction, rows: Sequence[tuple[int, str, str]]) -> None: ...

    async def member_rows(self, tx: Transaction, community: int, users: Sequence[str]) -> Sequence[Row]: ...
