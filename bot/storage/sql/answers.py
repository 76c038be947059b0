"""SQL for attempts and review cards: what the answer recorder reads and writes, self-ratings
(portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Answers:
    def __init__(self, db: Database) -> None:
        self.db = db
