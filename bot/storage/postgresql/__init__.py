"""PostgreSQL backend (asyncpg): the shared store for several replicas. See bot/storage/port.py."""

from bot.storage.postgresql.database import PostgresDatabase, display_url, open_postgresql

__all__ = ["PostgresDatabase", "display_url", "open_postgresql"]
