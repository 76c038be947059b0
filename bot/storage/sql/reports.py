"""SQL for the weekly digest's and status's reads (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db
