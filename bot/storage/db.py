"""The SQLite backend's database handle: one writer connection guarded by a lock, one reader connection (WAL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import StorageError, shown_path
from bot.storage.migrations import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)

Row = aiosqlite.Row


class SqliteDatabase:
    """Writes go through `transaction()` (serialised, committed or rolled back as a whole);
    reads use a second connection so they never see another transaction's uncommitted work."""

    backend = "sqlite"
    single_writer = True  # one bot per file (the scheduler lease): what it wrote may be cached as the truth
    conflict_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    retry_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.location = str(path)
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

    async def stream(self, sql: str, size: int) -> AsyncIterator[list[Row]]:
        """The rows of one SELECT (one snapshot), `size` at a time: a whole table never sits in memory."""
        async with self._reader.execute(sql) as cursor:
            while batch := list(await cursor.fetchmany(size)):
                yield batch

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


async def _connect(path: Path, opened: list[aiosqlite.Connection]) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    opened.append(conn)  # closed by the caller if anything below fails: an open connection keeps a thread alive
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against process crashes, fast commits
    await conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: keeps the leaderboard totals hot
    return conn


async def migrate(conn: aiosqlite.Connection, target: int = LATEST_VERSION, path: Path | None = None) -> int:
    """Apply every migration above the file's user_version, each in its own transaction."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > LATEST_VERSION:
        raise StorageError(newer_schema(path or Path("?"), current))
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


async def open_database(path: Path, *, target_version: int = LATEST_VERSION) -> SqliteDatabase:
    """Open (creating and migrating as needed) the database file. Any failure closes what was opened and
    raises StorageError with one sentence: which file, what is wrong, what to do."""
    opened: list[aiosqlite.Connection] = []
    try:
        _prepare_folder(path)
        writer = await _connect(path, opened)
        await writer.execute("PRAGMA journal_mode = WAL")
        await migrate(writer, target_version, path)
        reader = await _connect(path, opened)
        return SqliteDatabase(path, writer, reader)
    except BaseException as exc:
        for conn in opened:
            with contextlib.suppress(Exception):
                await conn.close()
        if isinstance(exc, sqlite3.Error | OSError):
            raise StorageError(describe_failure(path, exc)) from exc
        raise


def _prepare_folder(path: Path) -> None:
    if os.path.isdir(path):
        raise StorageError(f"the database path {shown_path(path)} is a folder: set STUDYBOT_DATABASE to a file "
                           "such as data/studybot.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)


def newer_schema(path: Path, version: int) -> str:
    return (f"the database {shown_path(path)} is at schema v{version}, newer than this studybot "
            f"(v{LATEST_VERSION}): run the newer studybot, or restore a backup made by this version")


def describe_failure(path: Path, exc: BaseException) -> str:
    """What an SQLite or file-system error at start-up means for the operator."""
    where = shown_path(path)
    text = str(exc).lower()
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        return (f"cannot create the folder for the database {where}: {exc.strerror or exc}; set STUDYBOT_DATABASE "
                "to a file in a folder the bot can write")
    if "locked" in text or "busy" in text:
        return (f"the database {where} is locked by another program (another studybot using it?): stop that "
                "program, or give this one its own STUDYBOT_DATABASE")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{where} is not a usable SQLite database (damaged, truncated or another kind of file): restore "
                "a backup (studybot db backup makes them) or move the file away to start a new one")
    if "readonly" in text or "read-only" in text or "permission" in text:
        return (f"cannot write the database {where} (the file or its folder is read-only): give the bot's user "
                "write access to both; SQLite writes -wal and -shm files beside the database")
    if "unable to open" in text:
        return (f"cannot open the database {where}: check that its folder exists and the bot's user may read "
                "and write there, or set STUDYBOT_DATABASE to another file")
    return f"cannot use the database {where}: {exc}"


Database = SqliteDatabase  # the name the SQLite-only tools and tests know it by
