"""`studybot db migrate-to postgresql://...`: copy a SQLite database into an empty PostgreSQL database, then
prove the copy: row counts, every leaderboard total and every streak compared between the two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.errors import StorageError
from bot.storage.db import SqliteDatabase, open_database
from bot.storage.postgresql import PostgresDatabase, open_postgresql

# Parents before children (foreign keys); every table of the schema, checked against both databases.
TABLES = ("communities", "channels", "members", "questions", "posts", "attempts", "reviews", "totals",
          "rolling_meta", "scheduled_runs", "leases", "appeals", "accepted_answers", "community_questions",
          "submissions", "slack_installations", "slack_oauth_states")
BATCH = 5_000
CHECKS = {
    "leaderboards": "SELECT community_id, period, period_key, topic, member_id, points, correct, answered, last_at "
                    "FROM totals ORDER BY community_id, period, period_key, topic, member_id",
    "streaks": "SELECT id, streak, best_streak, last_daily_post FROM members ORDER BY id",
    "post counts": "SELECT id, answered, correct, revealed_at FROM posts ORDER BY id",
    "points": "SELECT member_id, SUM(points), SUM(correct), COUNT(*) FROM attempts GROUP BY member_id "
              "ORDER BY member_id",
}


@dataclass
class Copied:
    rows: dict[str, int]
    verified: list[str]


async def migrate_to(source: Path, url: str, progress: Callable[[str], None] = lambda _: None) -> Copied:
    sqlite = await open_database(source)  # brought to the latest schema first, as the bot would
    try:
        target = await open_postgresql(url)
        try:
            return await _copy(sqlite, target, progress)
        finally:
            await target.close()
    finally:
        await sqlite.close()


async def _copy(sqlite: SqliteDatabase, target: PostgresDatabase, progress: Callable[[str], None]) -> Copied:
    tables = [t for t in TABLES if await sqlite.fetchone(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (t,))]
    for table in tables:
        row = await target.fetchone(f"SELECT COUNT(*) FROM {table}")
        if row[0]:
            raise StorageError(f"the PostgreSQL database {target.location} is not empty ({table} has rows): give "
                               "migrate-to a new, empty database")
    counts: dict[str, int] = {}
    async with target.raw_transaction() as conn:
        # Copied verbatim, totals included: the triggers that keep totals on write must not count twice.
        await conn.execute("ALTER TABLE attempts DISABLE TRIGGER USER")
        for table in tables:
            types = {r["column_name"]: r["data_type"] for r in await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", table)}
            columns = [r[1] for r in await sqlite.fetchall(f"PRAGMA table_info({table})") if r[1] in types]
            convert = [_converter(types[c]) for c in columns]
            counts[table] = 0
            async for rows in sqlite.stream(f"SELECT {', '.join(columns)} FROM {table}", BATCH):
                records = [tuple(f(v) for f, v in zip(convert, r, strict=True)) for r in rows]
                try:
                    await conn.copy_records_to_table(table, records=records, columns=columns)
                except asyncpg.PostgresError as exc:
                    raise StorageError(f"copying {table} failed: {str(exc).splitlines()[0]}; nothing was kept "
                                       "(the copy is one transaction). Check the SQLite file with "
                                       "PRAGMA foreign_key_check and PRAGMA integrity_check") from None
                counts[table] += len(records)
            progress(f"copied {counts[table]} rows of {table}")
            if "id" in columns and types["id"] == "bigint":
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
        await conn.execute("ALTER TABLE attempts ENABLE TRIGGER USER")
    return Copied(counts, await _verify(sqlite, target, tables, counts))


async def _verify(sqlite: SqliteDatabase, target: PostgresDatabase, tables: list[str],
                  counts: dict[str, int]) -> list[str]:
    for table in tables:
        row = await target.fetchone(f"SELECT COUNT(*) FROM {table}")
        if row[0] != counts[table]:
            raise StorageError(f"verification failed: {table} has {row[0]} rows in PostgreSQL, {counts[table]} in "
                               "SQLite; the PostgreSQL database is incomplete, drop and recreate it before retrying")
    verified = [f"row counts of {len(tables)} tables"]
    for name, sql in CHECKS.items():
        here = [tuple(r) for r in await sqlite.fetchall(sql)]
        there = [tuple(r) for r in await target.fetchall(sql)]
        if here != there:
            raise StorageError(f"verification failed: the {name} differ between SQLite and PostgreSQL; the "
                               "PostgreSQL copy must not be used: drop and recreate it before retrying")
        verified.append(f"{name} ({len(here)} rows)")
    return verified


def _converter(data_type: str) -> Callable[[Any], Any]:
    """SQLite stores what it is given; PostgreSQL's binary COPY wants each column's own type."""
    if data_type in ("bigint", "integer"):
        return lambda v: None if v is None else int(v)
    if data_type == "double precision":
        return lambda v: None if v is None else float(v)
    return lambda v: None if v is None else str(v)
