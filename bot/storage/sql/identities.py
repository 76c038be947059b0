"""SQL for communities, channels and members: ids by platform id, member upserts (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Identities:
    def __init__(self, db: Database) -> None:
        self.db = db
