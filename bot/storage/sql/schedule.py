"""SQL for scheduled runs (claims) and the scheduler lease (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class ScheduleRuns:
    def __init__(self, db: Database) -> None:
        self.db = db
