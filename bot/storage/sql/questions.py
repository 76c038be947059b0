"""SQL for the questions table (bank sync) and communities' own questions (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Questions:
    def __init__(self, db: Database) -> None:
        self.db = db
