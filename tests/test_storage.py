from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import StorageError
from bot.storage import LATEST_VERSION, open_database


async def test_fresh_database_is_wal_with_foreign_keys(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "a.sqlite3")
    try:
        assert await db.schema_version() == LATEST_VERSION
        mode = await db.fetchone("PRAGMA journal_mode")
        fk = await db.fetchone("PRAGMA foreign_keys")
        assert mode is not None and mode[0] == "wal"
        assert fk is not None and fk[0] == 1
    finally:
        await db.close()


async def test_migrates_version_1_database_keeping_history(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = await open_database(path, target_version=1)
    async with old.transaction() as tx:
        await tx.executescript("""
            INSERT INTO communities (id, platform, external_id, created_at) VALUES (1, 'console', 't', 'x');
            INSERT INTO channels (id, community_id, external_id) VALUES (1, 1, 'c');
            INSERT INTO members (id, community_id, external_id, display_name) VALUES (1, 1, 'u1', 'ann'), (2, 1, 'u2', 'ben');
            INSERT INTO questions (id, topic, difficulty, content_hash, added_at, updated_at)
                VALUES ('q1', 'training', 'easy', 'h', 'x', 'x');
            INSERT INTO posts (id, channel_id, question_id, question_hash, kind, local_date, posted_at)
                VALUES (1, 1, 'q1', 'h', 'daily', '2026-11-18', '2026-11-18T09:00:00.000+00:00');
            INSERT INTO attempts (post_id, member_id, community_id, question_id, topic, kind, mode, score, correct,
                                  points, created_at, day)
                VALUES (1, 1, 1, 'q1', 'training', 'daily', 'choice', 1, 1, 10, '2026-11-18T09:01:00.000+00:00', '2026-11-18'),
                       (1, 2, 1, 'q1', 'training', 'daily', 'choice', 0, 0, 0, '2026-11-18T09:02:00.000+00:00', '2026-11-18');
        """)
    assert await old.schema_version() == 1
    await old.close()

    db = await open_database(path)
    try:
        assert await db.schema_version() == LATEST_VERSION
        week = await db.fetchall("SELECT member_id, points, answered FROM totals WHERE period = 'week' "
                                 "AND period_key = '2026-11-16' AND topic = '' ORDER BY member_id")
        assert [tuple(r) for r in week] == [(1, 10, 1), (2, 0, 1)]
        by_topic = await db.fetchone("SELECT points FROM totals WHERE period = 'all' AND topic = 'training' "
                                     "AND member_id = 1")
        assert by_topic is not None and by_topic[0] == 10
        post = await db.fetchone("SELECT answered, correct FROM posts WHERE id = 1")
        assert post is not None and tuple(post) == (2, 1)
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        await open_database(path)


async def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "b.sqlite3")
    try:
        with pytest.raises(ZeroDivisionError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO communities (platform, external_id, created_at) VALUES ('x', 'y', 'z')")
                raise ZeroDivisionError
        row = await db.fetchone("SELECT COUNT(*) FROM communities")
        assert row is not None and row[0] == 0
    finally:
        await db.close()


async def test_online_backup_is_consistent(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "c.sqlite3")
    try:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO communities (platform, external_id, created_at) VALUES ('x', 'y', 'z')")
        await db.backup(tmp_path / "copy.sqlite3")
    finally:
        await db.close()
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT COUNT(*) FROM communities").fetchone()[0] == 1
