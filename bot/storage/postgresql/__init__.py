"""PostgreSQL backend (asyncpg): the shared store for several replicas. See bot/storage/port.py."""

from bot.storage.port import display_url
from bot.storage.postgresql.database import PostgresDatabase, open_postgresql

__all__ = ["PostgresDatabase", "display_url", "open_postgresql"]
