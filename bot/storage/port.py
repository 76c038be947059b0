"""The storage port: what the core needs from a database, whichever backend serves it.

Two backends implement it: SQLite (bot/storage/db.py, the embedded default) and PostgreSQL
(bot/storage/postgresql). Statements are written once in the portable SQL both accept: `?` placeholders,
`INSERT ... ON CONFLICT`, `RETURNING`, ISO-8601 text for dates and times (computed in Python, never with a
backend's date functions). Each backend owns its schema, migrations and triggers.

`single_writer` is part of a backend's contract: when true, this process is the only writer of the
database (SQLite: one bot per file, see the scheduler lease) and may keep what it wrote in memory as the
truth; when false (PostgreSQL with replicas), every decision that depends on shared state is taken inside a
transaction that locks what it reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class Row(Protocol):
    """A result row, read by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Any: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Sequence[Any]: ...


class Transaction(Protocol):
    """A connection inside a transaction: committed when the block ends, rolled back on any exception."""

    async def execute(self, sql: str, params: Iterable[Any] = ..., /) -> Any: ...

    async def executemany(self, sql: str, params: Iterable[Iterable[Any]], /) -> Any: ...


class Database(Protocol):
    backend: str  # "sqlite" | "postgresql"
    single_writer: bool
    location: str  # the file (SQLite) or postgresql://host:port/database (never the password)
    conflict_errors: tuple[type[BaseException], ...]  # a unique constraint fired
    retry_errors: tuple[type[BaseException], ...]  # transient: run the transaction again

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any: ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


TRANSIENT_RETRIES = 5


async def retrying(db: Database, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work(tx)` in a transaction, run again when the backend reports a transient failure (a deadlock or a
    serialization failure between replicas): each run starts from scratch, so nothing is counted twice."""
    for attempt in range(TRANSIENT_RETRIES):
        try:
            async with db.transaction() as tx:
                return await work(tx)
        except db.retry_errors:
            if attempt == TRANSIENT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def display_url(url: str) -> str:
    """postgresql://host:port/database for messages and logs: never the user or the password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}{parts.path or '/'}"


def is_postgresql_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.split("://", 1)[0] in ("postgresql", "postgres")


async def open_store(location: str | Path) -> Database:
    """SQLite for a file path, PostgreSQL for a postgresql:// URL."""
    if is_postgresql_url(location):
        try:
            from bot.storage.postgresql import open_postgresql
        except ImportError:
            from bot.errors import StorageError
            raise StorageError("STUDYBOT_DATABASE is a PostgreSQL URL but its driver is not installed: "
                               "pip install 'studybot[postgresql]' (asyncpg)") from None
        return await open_postgresql(str(location))
    from bot.storage.db import open_database
    return await open_database(Path(location))


__all__ = ["Cursor", "Database", "Row", "Transaction", "display_url", "is_postgresql_url",
           "open_store", "retrying"]
