"""SQLite storage through aiosqlite: one file, WAL, foreign keys, versioned migrations."""

from bot.storage.db import Database, open_database
from bot.storage.migrations import LATEST_VERSION, MIGRATIONS

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Database", "open_database"]
