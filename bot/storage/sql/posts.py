"""SQL for posts: create, read, counts, message refs, daily history (portable: see bot/storage/port.py)."""

from __future__ import annotations

from bot.storage.port import Database


class Posts:
    def __init__(self, db: Database) -> None:
        self.db = db
