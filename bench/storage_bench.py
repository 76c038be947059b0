"""Storage benchmark: PostgreSQL beside SQLite.

1. Answers per second: the same burst of clicks (N members, each clicking twice: every click reaches the
   replicas as a double click behind a load balancer would send it) through one bot process on SQLite, one
   replica on PostgreSQL and two replicas on one PostgreSQL. Each process is tests/replica.py: the real
   StudyService, acknowledging each click only after its answer is committed.
2. Leaderboards on 1,000,000 attempts: the history is loaded into SQLite (as bench/core_bench.py does),
   moved with `migrate-to`, then each board is read through the service on PostgreSQL (median of 20) beside
   the bare query through asyncpg (the floor) and the target (10 ms).

Starts its own PostgreSQL server (tests/pgserver.py) unless --url is given.

    .venv/bin/python bench/storage_bench.py [--members N] [--attempts N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core_bench import NOW, amedian_time, load_attempts, ms, synthetic_bank  # noqa: E402
from bot.bank import load_bank  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.scoring import period_keys  # noqa: E402
from bot.service import Actor, StudyService  # noqa: E402
from bot.storage import open_database, open_store  # noqa: E402
from bot.storage.transfer import migrate_to  # noqa: E402
from tests import pgserver  # noqa: E402

FIXTURE_BANK = ROOT / "tests" / "data" / "bank"
LEADERBOARD_TARGET = 0.010


async def make_post(location: str | Path) -> tuple[int, int]:
    db = await open_store(location)
    try:
        service = StudyService(db, load_bank(FIXTURE_BANK), ManualClock(datetime.now(UTC)))
        await service.sync_bank()
        card = await service.quiz(Actor("test", "team", "general", "setup", "setup"))
        assert card.post_id is not None
        return card.post_id, (await service._post(card.post_id)).order.index(0)
    finally:
        await db.close()


async def replica(location: str | Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.replica", str(location), str(FIXTURE_BANK), "answers", cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    assert json.loads(await proc.stdout.readline()) == {"ready": True}
    return proc


async def burst(location: str | Path, replicas: int, members: int) -> tuple[float, int]:
    """Seconds from the first click sent to the last acknowledgement, and the answers recorded."""
    post_id, right = await make_post(location)
    procs = [await replica(location) for _ in range(replicas)]
    clicks = [json.dumps({"user": f"b{n}", "post": post_id, "shown": right}).encode() + b"\n"
              for n in range(members)]
    recorded = 0

    async def read(proc: asyncio.subprocess.Process, count: int) -> None:
        nonlocal recorded
        assert proc.stdout is not None
        for _ in range(count):
            ack = json.loads(await proc.stdout.readline())  # read first: `+=` around an await loses updates
            assert "error" not in ack, ack
            recorded += ack["recorded"]

    start = time.perf_counter()
    for proc in procs:  # every click twice: to each replica, or twice to the only one
        assert proc.stdin is not None
        proc.stdin.write(b"".join(clicks) * (2 if replicas == 1 else 1))
    await asyncio.gather(*(read(p, members * (2 if replicas == 1 else 1)) for p in procs))
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.kill()
        await proc.wait()
    return elapsed, recorded


async def bench_answers(server: pgserver.Server | None, url: str | None, tmp: Path, members: int) -> None:
    print(f"\n== answers per second: {members:,} members, every click sent twice ==")
    cases: list[tuple[str, str | Path, int]] = [("SQLite, one process", tmp / "burst.sqlite3", 1)]
    for label, count in (("PostgreSQL, one replica", 1), ("PostgreSQL, two replicas", 2)):
        cases.append((label, server.new_database() if server else url or "", count))
    for label, location, count in cases:
        elapsed, recorded = await burst(location, count, members)
        assert recorded == members, (label, recorded)
        print(f"{label:<34} {members / elapsed:>8,.0f} answers/s  ({elapsed:.2f} s, {recorded:,} recorded once, "
              f"{members:,} duplicates refused)")


async def bench_leaderboards(url: str, tmp: Path, attempts: int, members: int) -> None:
    print(f"\n== leaderboard on PostgreSQL, {attempts:,} attempts (median of 20; top 10; target 10 ms) ==")
    bank_dir = tmp / "bank"
    bank_dir.mkdir()
    synthetic_bank(bank_dir, 500)
    bank = load_bank(bank_dir)
    path = tmp / "history.sqlite3"
    db = await open_database(path)  # the schema, with its trigger, that load_attempts fills
    await StudyService(db, bank, ManualClock(NOW)).sync_bank()  # question rows, as a running bot has them
    await db.close()
    load_attempts(path, attempts, members, sorted(bank.questions))
    t0 = time.perf_counter()
    copied = await migrate_to(path, url)
    print(f"migrate-to copied {sum(copied.rows.values()):,} rows and verified them in {time.perf_counter() - t0:.1f} s")
    shared = await open_store(url)
    raw = await asyncpg.connect(url)
    try:
        await raw.execute("ANALYZE")
        service = StudyService(shared, bank, ManualClock(NOW))
        keys = period_keys(NOW.date())
        for period in ("week", "month", "all", "30d"):
            await service.standings(1, period)  # warm; the rolling board materialises once a day
            ours = await amedian_time(lambda p=period: service.standings(1, p))
            key = {"all": "all", "week": keys["week"], "month": keys["month"], "30d": keys["day"]}[period]
            floor = await amedian_time(lambda p=period, k=key: raw.fetch(
                "SELECT t.points, m.display_name FROM totals t JOIN members m ON m.id = t.member_id "
                "WHERE t.community_id = 1 AND t.period = $1 AND t.period_key = $2 AND t.topic = '' AND t.points > 0 "
                "ORDER BY t.points DESC, t.correct DESC, t.last_at, t.member_id LIMIT 10", p, k))
            verdict = "ok" if ours <= LEADERBOARD_TARGET else "OVER TARGET"
            print(f"leaderboard {period:<6} {ms(ours):>12}  raw asyncpg {ms(floor)}  ratio {ours / floor:.1f}x  "
                  f"target {ms(LEADERBOARD_TARGET)} {verdict}")
    finally:
        await raw.close()
        await shared.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2_000, help="members in the answer burst")
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--history-members", type=int, default=5_000)
    parser.add_argument("--url", help="an existing PostgreSQL server's empty database (default: start one)")
    args = parser.parse_args()
    server = None if args.url else pgserver.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            await bench_answers(server, args.url, Path(tmp), args.members)
            url = server.new_database() if server else args.url
            await bench_leaderboards(url, Path(tmp), args.attempts, args.history_members)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
