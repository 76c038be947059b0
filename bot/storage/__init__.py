"""Storage behind one port (bot/storage/port.py): SQLite through aiosqlite (one file, WAL, foreign keys,
versioned migrations) by default, PostgreSQL through asyncpg for several replicas."""

from bot.storage.db import open_database
from bot.storage.migrations import LATEST_VERSION, MIGRATIONS
from bot.storage.port import Database, is_postgresql_url, open_store

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Database", "is_postgresql_url", "open_database", "open_store"]
