"""SQL for leaderboard totals, the rolling board, member stats and misses (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Boards:
    def __init__(self, db: Database) -> None:
        self.db = db
