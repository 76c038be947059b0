"""The PostgreSQL database handle, through asyncpg.

asyncpg because the bot is asyncio end to end: it speaks PostgreSQL's binary protocol natively (no thread
pool, no libpq), pools connections, caches prepared statements per connection and is the fastest of the
drivers on these machines' package list; the statements are plain portable SQL (bot/storage/port.py), so a
toolkit such as SQLAlchemy would add a layer without removing any SQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from bot.errors import StorageError
from bot.storage.port import display_url
from bot.storage.postgresql.migrations import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)

POOL_SIZE = 10
# Every replica migrates at start-up: the lock lets exactly one of them do it while the others wait.
MIGRATION_LOCK = 0x57D7B07  # an arbitrary, fixed advisory-lock key owned by studybot
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """`?` placeholders become `$1, $2, ...`; a `?` inside a quoted string is left alone."""
    out: list[str] = []
    number = 0
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        elif char == "?" and not quoted:
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return "".join(out)


class _Cursor:
    def __init__(self, rows: Sequence[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> Sequence[Any]:
        return self._rows


async def _run(conn: asyncpg.Connection, sql: str, params: Iterable[Any]) -> _Cursor:
    query, args = to_postgres(sql), tuple(params)
    if _RETURNS_ROWS.search(sql):
        rows = await conn.fetch(query, *args)
        return _Cursor(rows, len(rows))
    status = await conn.execute(query, *args)
    tail = status.rsplit(" ", 1)[-1]
    return _Cursor((), int(tail) if tail.isdigit() else 0)


class _Transaction:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> _Cursor:
        return await _run(self._conn, sql, params)

    async def executemany(self, sql: str, params: Iterable[Iterable[Any]]) -> None:
        await self._conn.executemany(to_postgres(sql), [tuple(p) for p in params])


class PostgresDatabase:
    backend = "postgresql"
    single_writer = False  # replicas share it: nothing held in memory is the truth
    conflict_errors: tuple[type[BaseException], ...] = (asyncpg.IntegrityConstraintViolationError,)
    retry_errors: tuple[type[BaseException], ...] = (asyncpg.DeadlockDetectedError,
                                                     asyncpg.SerializationError)

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.location = display_url(url)
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _Transaction(conn)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._pool.acquire() as conn:
            return list((await _run(conn, sql, params))._rows)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def raw_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """The driver's own connection in a transaction, for bulk work (COPY) by the storage layer only."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-only transaction that sees one moment, however many queries it runs (exports)."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return await _version(conn)

    async def close(self) -> None:
        await self._pool.close()


async def _version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('studybot_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM studybot_schema"))


async def migrate(conn: asyncpg.Connection, target: int = LATEST_VERSION, where: str = "") -> int:
    """Apply every step above the database's version, each in its own transaction, one replica at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        current = await _version(conn)
        if current > LATEST_VERSION:
            raise StorageError(f"the database {where} is at schema v{current}, newer than this studybot "
                               f"(v{LATEST_VERSION}): run the newer studybot, or restore a backup made by this version")
        await conn.execute("CREATE TABLE IF NOT EXISTS studybot_schema (version INTEGER NOT NULL, "
                           "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for version, name, sql in MIGRATIONS:
            if current < version <= target:
                log.info("applying migration %d: %s", version, name)
                await conn.execute(sql)
                await conn.execute("INSERT INTO studybot_schema (version) VALUES ($1)", version)
                current = version
    return current


async def open_postgresql(url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
    """Connect (pooled), migrate, and return the handle; any failure is one StorageError line without
    the password."""
    where = display_url(url)
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, command_timeout=60)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise StorageError(describe_failure(where, exc)) from None
    try:
        async with pool.acquire() as conn:
            await migrate(conn, where=where)
    except BaseException as exc:
        await pool.close()
        if isinstance(exc, asyncpg.PostgresError | OSError):
            raise StorageError(describe_failure(where, exc)) from None
        raise
    return PostgresDatabase(url, pool)


def describe_failure(where: str, exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, asyncpg.PostgresError):
        return (f"cannot reach PostgreSQL at {where} ({text}): start the server, or check the host and port in "
                "STUDYBOT_DATABASE")
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return f"PostgreSQL at {where} refused the login: check the user and password in STUDYBOT_DATABASE"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"the database {where} does not exist: create it (createdb) or fix its name in STUDYBOT_DATABASE"
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return (f"the user in STUDYBOT_DATABASE may not create tables in {where}: grant it CREATE on the "
                "database's schema")
    return f"cannot use the database {where}: {text}"
