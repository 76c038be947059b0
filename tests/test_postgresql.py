"""PostgreSQL's own side: moving a week of SQLite activity over with `studybot db migrate-to`, exports,
clear start-up errors without the password, and replicas starting together."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bank import load_bank
from bot.clock import ManualClock
from bot.service import Actor, StudyService
from bot.storage import Database, open_database, open_store
from bot.storage.postgresql.migrations import MIGRATIONS as PG_MIGRATIONS
from tests import pgserver
from tests.conftest import FIXTURE_BANK


def cli(*args: str, database: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDYBOT_", "DISCORD_", "SLACK_"))}
    env |= {"STUDYBOT_DATABASE": str(database), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK)}
    return subprocess.run([sys.executable, "-m", "adapters.app", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)


async def a_week_of_activity(service: StudyService, clock: ManualClock) -> None:
    """Daily questions for seven days, practice, written answers, an upheld appeal, the rolling board."""
    admin = Actor("test", "team", "general", "boss", "Boss", is_admin=True)
    await service.setup(admin, time="09:00")
    channel = await service.channel_id(admin)
    rng = random.Random(11)
    for day in range(7):
        local = (clock.now().date()).isoformat()
        question = rng.choice([q for q in service.bank.questions.values() if q.choices])
        post_id = await service.create_post(channel, question, kind="daily", local_date=local)
        assert post_id is not None
        order = (await service._post(post_id)).order
        for n in range(12):
            if rng.random() < 0.8:
                member = Actor("test", "team", "general", f"u{n}", f"Member {n}")
                await service.answer_choice(member, post_id, order.index(0) if rng.random() < 0.6 else
                                            (order.index(0) + 1) % len(order))
        for n in range(4):
            member = Actor("test", "team", "general", f"u{n}", f"Member {n}")
            card = await service.quiz(member)
            assert card.post_id is not None
            await service.answer_text(member, card.post_id, "something I half remember" if day % 2 else
                                      "no idea at all")
        clock.advance(timedelta(days=1))
    member = Actor("test", "team", "general", "u1", "Member 1")
    row = await service.db.fetchone("SELECT a.post_id FROM attempts a JOIN members m ON m.id = a.member_id "
                                    "WHERE m.external_id = 'u1' AND a.mode = 'text' AND a.correct = 0")
    await service.appeal(member, row[0])
    appeal = await service.db.fetchone("SELECT id FROM appeals")
    await service.decide_appeal(admin, appeal[0], True)
    await service.leaderboard(admin, "30d")  # materialises the rolling board


async def boards(service: StudyService) -> list[str]:
    admin = Actor("test", "team", "general", "boss", "Boss", is_admin=True)
    shown = [(await service.leaderboard(admin, period)).body for period in ("week", "month", "all", "30d")]
    shown += [(await service.stats(Actor("test", "team", "general", f"u{n}", f"Member {n}"))).body for n in range(12)]
    return shown


async def test_migrate_to_copies_a_week_and_proves_it(tmp_path: Path, postgres: pgserver.Server) -> None:
    clock = ManualClock(datetime(2026, 11, 9, 10, 0, tzinfo=UTC))
    path = tmp_path / "week.sqlite3"
    sqlite = await open_database(path)
    service = StudyService(sqlite, load_bank(FIXTURE_BANK), clock, rng=random.Random(2))
    await service.sync_bank()
    await a_week_of_activity(service, clock)
    before = await boards(service)
    await sqlite.close()
    url = postgres.new_database()

    done = await asyncio.to_thread(cli, "db", "migrate-to", url, database=path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verified identical: row counts of 17 tables; leaderboards" in done.stdout and "streaks" in done.stdout

    shared = await open_store(url)
    try:
        moved = StudyService(shared, load_bank(FIXTURE_BANK), clock, rng=random.Random(2))
        await moved.sync_bank()
        assert await boards(moved) == before  # what members see is the same, board by board
        # The copy goes on working: new ids do not collide with copied ones, and totals keep up on write.
        card = await moved.quiz(Actor("test", "team", "general", "newcomer", "Newcomer"))
        assert card.post_id is not None
        result = await moved.answer_text(Actor("test", "team", "general", "newcomer", "Newcomer"), card.post_id,
                                         "a fresh answer")
        assert result.recorded
        row = await shared.fetchone("SELECT COUNT(*) FROM attempts a JOIN members m ON m.id = a.member_id "
                                    "WHERE m.external_id = 'newcomer'")
        assert row[0] == 1
    finally:
        await shared.close()

    again = await asyncio.to_thread(cli, "db", "migrate-to", url, database=path, cwd=tmp_path)
    assert again.returncode == 1 and "is not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


async def test_export_and_backup_on_postgresql(tmp_path: Path, db: Database, service: StudyService,
                                               postgres: pgserver.Server, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the SQLite side is in tests/test_operations.py")
    url = postgres.url(db.location.rsplit("/", 1)[1])
    for n in range(3):
        card = await service.quiz(Actor("test", "team", "general", f"u{n}", f"=cmd|{n}"))
        assert card.post_id is not None
        await service.answer_text(Actor("test", "team", "general", f"u{n}", f"=cmd|{n}"), card.post_id, "an answer")
    done = await asyncio.to_thread(cli, "db", "export", "--out", str(tmp_path / "out"), database=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    attempts = (tmp_path / "out" / "attempts.csv").read_text().splitlines()
    assert len(attempts) == 4 and "'=cmd|0" in attempts[1]
    backup = await asyncio.to_thread(cli, "db", "backup", str(tmp_path / "b"), database=url, cwd=tmp_path)
    assert backup.returncode == 2 and "pg_dump" in backup.stderr


def test_unreachable_or_missing_database_is_one_line_without_the_password(postgres: pgserver.Server,
                                                                          tmp_path: Path) -> None:
    for url in (f"postgresql://studybot:hunter2secret@127.0.0.1:{pgserver.free_port()}/x",
                postgres.url("no_such_database").replace("studybot@", "studybot:hunter2secret@")):
        done = cli("run", database=url, cwd=tmp_path)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "hunter2secret" not in done.stderr + done.stdout, done.stderr
        assert "STUDYBOT_DATABASE" in lines[0]


async def test_replicas_starting_together_migrate_once(postgres: pgserver.Server) -> None:
    url = postgres.new_database()
    opened = await asyncio.gather(*(open_store(url) for _ in range(4)))
    try:
        versions = {await d.schema_version() for d in opened}
        rows = await opened[0].fetchall("SELECT version FROM studybot_schema")
        # Every step applied exactly once, whichever replica got there first.
        assert len(versions) == 1 and sorted(r[0] for r in rows) == [v for v, _, _ in PG_MIGRATIONS]
    finally:
        for d in opened:
            await d.close()




async def test_both_backends_have_the_same_schema_at_the_same_version(tmp_path: Path,
                                                                      postgres: pgserver.Server) -> None:
    """One version number means one schema: same tables, same columns; migrate-to copies every table."""
    from bot.storage.migrations import LATEST_VERSION as SQLITE_LATEST
    from bot.storage.postgresql.migrations import LATEST_VERSION as POSTGRES_LATEST
    from bot.storage.transfer import TABLES

    assert SQLITE_LATEST == POSTGRES_LATEST
    sqlite = await open_database(tmp_path / "schema.sqlite3")
    shared = await open_store(postgres.new_database())
    try:
        names = [r[0] for r in await sqlite.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        assert sorted(TABLES) == names
        for table in names:
            here = {r[1] for r in await sqlite.fetchall(f"PRAGMA table_info({table})")}
            there = {r[0] for r in await shared.fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,))}
            assert here == there, table
        assert await sqlite.schema_version() == await shared.schema_version() == SQLITE_LATEST
    finally:
        await sqlite.close()
        await shared.close()


async def test_bank_commands_work_on_postgresql(tmp_path: Path, db: Database, service: StudyService,
                                                postgres: pgserver.Server, backend: str) -> None:
    """`bank import --community`, `bank export --community` and `bank appeals export` on the shared store."""
    if backend != "postgresql":
        pytest.skip("the SQLite side is in tests/test_community.py and tests/test_appeals.py")
    from tests.test_community import CSV

    url = postgres.url(db.location.rsplit("/", 1)[1])
    await service.quiz(Actor("console", "team", "general", "ada", "Ada"))  # the community exists once used
    (tmp_path / "ours.csv").write_text(CSV)
    done = await asyncio.to_thread(cli, "bank", "import", str(tmp_path / "ours.csv"), "--topic", "our-stack",
                                   "--community", "team", database=url, cwd=tmp_path)
    assert done.returncode == 0 and "2 new, 0 updated" in done.stdout, done.stdout + done.stderr
    card = await service.quiz(Actor("console", "team", "general", "ada", "Ada"), "our-stack")
    assert card.post_id is not None
    assert "feature store" in card.body or "training data" in card.body  # one of the imported questions
    exported = await asyncio.to_thread(cli, "bank", "export", "--community", "team", "--out",
                                       str(tmp_path / "out"), database=url, cwd=tmp_path)
    assert exported.returncode == 0 and (tmp_path / "out" / "our-stack.yaml").is_file(), exported.stderr
    patch = await asyncio.to_thread(cli, "bank", "appeals", "export", database=url, cwd=tmp_path)
    assert patch.returncode == 0 and "0 accepted answer(s)" in patch.stderr
