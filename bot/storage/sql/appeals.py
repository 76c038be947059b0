"""SQL for appeals and accepted answers (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Appeals:
    def __init__(self, db: Database) -> None:
        self.db = db
