"""SQL for questions written in chat and their review queue (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Submissions:
    def __init__(self, db: Database) -> None:
        self.db = db
