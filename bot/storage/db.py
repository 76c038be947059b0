"""The database handle: one writer connection guarded by a lock, one reader connection (WAL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.migrations import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)

Row = aiosqlite.Row


class Database:
    """Writes go through `transaction()` (serialised, committed or rolled back as a whole);
    reads use a second connection so they never see another transaction's uncommitted work."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.rollback()
                raise
            else:
                await self._writer.commit()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        # One round trip to the connection's thread (execute + fetch + close in one call).
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self._reader.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def backup(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup, safe while the bot writes."""
        async with aiosqlite.connect(target) as dest:
            await self._reader.backup(dest)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against process crashes, fast commits
    await conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: keeps the leaderboard totals hot
    return conn


async def migrate(conn: aiosqlite.Connection, target: int = LATEST_VERSION) -> int:
    """Apply every migration above the file's user_version, each in its own transaction."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > LATEST_VERSION:
        raise RuntimeError(f"database schema v{current} is newer than this studybot (v{LATEST_VERSION})")
    for version, name, sql in MIGRATIONS:
        if current < version <= target:
            log.info("applying migration %d: %s", version, name)
            try:
                await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
            except BaseException:
                if conn.in_transaction:
                    await conn.rollback()
                raise
            current = version
    return current


async def open_database(path: Path, *, target_version: int = LATEST_VERSION) -> Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = await _connect(path)
    await writer.execute("PRAGMA journal_mode = WAL")
    try:
        await migrate(writer, target_version)
    except BaseException:
        await writer.close()
        raise
    reader = await _connect(path)
    return Database(path, writer, reader)
