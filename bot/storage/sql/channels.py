"""SQL for channel settings: setup, digest, pause, pool, scheduled channels (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Channels:
    def __init__(self, db: Database) -> None:
        self.db = db
