"""Core benchmark: leaderboards, the answer path, start-up, grading and idle memory.

Loads 1,000,000 attempts by 5,000 members over 500 questions into a real SQLite file, then prints each
figure beside the same work done with raw sqlite3 on the same data (the floor), as a ratio.

    .venv/bin/python bench/core_bench.py [--attempts N] [--members N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.bank import load_bank  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.grading import grade  # noqa: E402
from bot.scoring import period_keys  # noqa: E402
from bot.service import Actor, StudyService, iso  # noqa: E402
from bot.storage import open_database  # noqa: E402

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
TOPICS = [f"topic-{i}" for i in range(10)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def line(label: str, ours: float, raw: float | None) -> None:
    ratio = f"  ratio {ours / raw:.1f}x" if raw else ""
    floor = f"  raw sqlite3 {ms(raw)}" if raw is not None else ""
    print(f"{label:<44} {ms(ours):>12}{floor}{ratio}")


def synthetic_bank(directory: Path, questions: int) -> None:
    per_topic = questions // len(TOPICS)
    for t, topic in enumerate(TOPICS):
        entries = []
        for i in range(per_topic):
            qid = f"{topic}-q{i}"
            entries.append({
                "id": qid, "question": f"What is concept {i} of {topic}, and why does it matter?",
                "difficulty": ("easy", "medium", "hard")[i % 3],
                "answer": "A concise chat-ready answer about gradients, variance and regularisation.",
                "key_points": [{"point": "Gradients shrink through layers", "accept": ["gradients shrink", "tiny gradients"],
                                "reject": ["gradients explode"]},
                               {"point": "Use residual connections", "accept": ["residual", "skip connections"]}],
                "choices": {"correct": "The right option", "wrong": ["Wrong option one", "Wrong option two", "Wrong three"]},
                "explanation": "More detail. " * 20, "tags": ["bench"], "source": [],
            })
        (directory / f"{topic}.yaml").write_text(yaml.safe_dump(
            {"topic": topic, "title": f"Topic {t}", "description": "bench", "questions": entries}))


def load_attempts(path: Path, attempts: int, members: int, questions: list[str]) -> None:
    """Bulk-load history through the same schema and trigger the bot uses (so totals are real)."""
    rng = random.Random(1)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("INSERT INTO communities (id, platform, external_id, name, created_at) VALUES (1, 'console', 'bench', 'b', 'x')")
    conn.execute("INSERT INTO channels (id, community_id, external_id) VALUES (1, 1, 'general')")
    conn.executemany("INSERT INTO members (id, community_id, external_id, display_name) VALUES (?, 1, ?, ?)",
                     [(m, f"u{m}", f"member {m}") for m in range(1, members + 1)])
    per_member = attempts // members
    posts = max(per_member * 3, 1000)
    post_rows = []
    daily_days: set[str] = set()
    for p in range(1, posts + 1):
        day = (NOW - timedelta(days=365 * p / posts)).date()
        kind = "practice" if day.isoformat() in daily_days else "daily"
        daily_days.add(day.isoformat())
        post_rows.append((p, 1, questions[p % len(questions)], "h", kind,
                          day.isoformat(), iso(datetime.combine(day, datetime.min.time(), UTC))))
    conn.executemany("INSERT INTO posts (id, channel_id, question_id, question_hash, kind, local_date, posted_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", post_rows)
    conn.commit()
    batch = []
    t0 = time.perf_counter()
    for m in range(1, members + 1):
        for p in rng.sample(range(1, posts + 1), per_member):
            _, _, qid, _, kind, day, posted = post_rows[p - 1]
            correct = rng.random() < 0.6
            keys = period_keys(datetime.fromisoformat(posted).date())
            batch.append((p, m, 1, qid, TOPICS[int(qid.split("-")[1])], kind, "choice", 0, float(correct),
                          int(correct), (20 if kind == "daily" else 10) * correct, posted, day, keys["week"],
                          keys["month"]))
        if len(batch) >= 50_000:
            _insert(conn, batch)
            batch = []
    _insert(conn, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    print(f"loaded {attempts:,} attempts by {members:,} members over {len(questions)} questions "
          f"in {time.perf_counter() - t0:.1f} s")


def _insert(conn: sqlite3.Connection, batch: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO attempts (post_id, member_id, community_id, question_id, topic, kind, mode, choice, score, "
        "correct, points, created_at, day, week, month) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)


def median_time(fn, repeat: int = 20) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def amedian_time(fn, repeat: int = 20) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


async def bench_leaderboards(path: Path, bank_dir: Path) -> None:
    print("\n== leaderboard (median of 20; top 10) ==")
    db = await open_database(path)
    service = StudyService(db, load_bank(bank_dir), ManualClock(NOW))
    raw = sqlite3.connect(path)
    today = NOW.date()
    keys = period_keys(today)
    for period in ("week", "month", "all", "30d"):
        await service.standings(1, period)  # warm (the rolling board materialises once a day)
        ours = await amedian_time(lambda p=period: service.standings(1, p))
        key = {"all": "all", "week": keys["week"], "month": keys["month"], "30d": keys["day"]}[period]
        floor = median_time(lambda p=period, k=key: raw.execute(
            "SELECT t.points, m.display_name FROM totals t JOIN members m ON m.id = t.member_id "
            "WHERE t.community_id = 1 AND t.period = ? AND t.period_key = ? AND t.topic = '' AND t.points > 0 "
            "ORDER BY t.points DESC, t.correct DESC, t.last_at, t.member_id LIMIT 10", (p, k)).fetchall())
        line(f"leaderboard {period}", ours, floor)
    since = {"week": keys["week"], "month": keys["month"] + "-01", "all": "0000", "30d": (today - timedelta(days=29)).isoformat()}
    for period, start in since.items():
        naive = median_time(lambda s=start: raw.execute(
            "SELECT member_id, SUM(points) AS p FROM attempts WHERE community_id = 1 AND day >= ? "
            "GROUP BY member_id ORDER BY p DESC LIMIT 10", (s,)).fetchall(), repeat=3)
        print(f"{'  (plain GROUP BY over attempts, ' + period + ')':<44} {ms(naive):>12}")
    raw.close()
    await db.close()


async def bench_answers(path: Path, bank_dir: Path, members: int) -> None:
    print("\n== answer path (record + score update, committed before the ack) ==")
    db = await open_database(path)
    bank = load_bank(bank_dir)
    clock = ManualClock(NOW)
    service = StudyService(db, bank, clock, rng=random.Random(2))
    await service.sync_bank()
    questions = list(bank.questions.values())
    # 10,000 sequential answers: 10 fresh posts x 1,000 members
    latencies: list[float] = []
    t_start = time.perf_counter()
    for p in range(10):
        post = await service.create_post(1, questions[p], kind="practice", local_date=NOW.date().isoformat())
        assert post is not None
        for m in range(1, 1001):
            who = Actor("console", "bench", "general", f"u{m}", f"member {m}")
            t0 = time.perf_counter()
            await service.answer_choice(who, post, m % 4)
            latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - t_start
    seq_median, seq_p99 = statistics.median(latencies), p99(latencies)
    # 1,000 concurrent answers on one daily post
    post = await service.create_post(1, questions[20], kind="daily", local_date=(NOW.date() + timedelta(days=1)).isoformat())
    assert post is not None

    async def one(m: int) -> float:
        who = Actor("console", "bench", "general", f"u{m}", f"member {m}")
        t0 = time.perf_counter()
        await service.answer_choice(who, post, m % 4)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    concurrent = await asyncio.gather(*(one(m) for m in range(1, 1001)))
    burst = time.perf_counter() - t0

    # Sustained load: answers arriving at a steady 2,000/s (open loop) for 5 s, 1,000 members per post.
    rate, seconds = 2000, 5
    sustained_posts = []
    for p in range(rate * seconds // 1000):
        post_p = await service.create_post(1, questions[40 + p], kind="practice", local_date=NOW.date().isoformat())
        assert post_p is not None
        sustained_posts.append(post_p)

    async def arrive(i: int, at: float) -> float:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        who = Actor("console", "bench", "general", f"u{i % 1000 + 1}", f"member {i % 1000 + 1}")
        started = time.perf_counter()
        await service.answer_choice(who, sustained_posts[i // 1000], i % 4)
        return time.perf_counter() - started

    begin = time.perf_counter() + 0.05
    sustained = await asyncio.gather(*(arrive(i, begin + i / rate) for i in range(rate * seconds)))
    sustained_elapsed = time.perf_counter() - begin
    await db.close()

    # The floor: the same writes with raw sqlite3 (insert attempt -> trigger totals, member, review)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous = NORMAL")
    raw_lat = []
    post_raw = raw.execute("INSERT INTO posts (channel_id, question_id, question_hash, kind, local_date, posted_at) "
                           "VALUES (1, ?, 'h', 'practice', ?, ?) RETURNING id",
                           (questions[30].id, NOW.date().isoformat(), iso(NOW))).fetchone()[0]
    keys = period_keys(NOW.date())
    for m in range(1, 10_001):
        member = (m % members) + 1
        t0 = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("SELECT streak FROM members WHERE id = ?", (member,)).fetchone()
        raw.execute("INSERT INTO attempts (post_id, member_id, community_id, question_id, topic, kind, mode, score, correct, "
                    "points, created_at, day, week, month) VALUES (?, ?, 1, ?, 'topic-0', 'practice', 'choice', 1, 1, 10, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING", (post_raw + m // members, member, questions[30].id, iso(NOW), keys["day"],
                                               keys["week"], keys["month"]))
        raw.execute("SELECT card FROM reviews WHERE member_id = ? AND question_id = ?", (member, questions[30].id)).fetchone()
        raw.execute("INSERT INTO reviews (member_id, question_id, card, due) VALUES (?, ?, '{}', ?) ON CONFLICT DO UPDATE "
                    "SET card = excluded.card", (member, questions[30].id, iso(NOW)))
        raw.execute("COMMIT")
        raw_lat.append(time.perf_counter() - t0)
    raw.close()
    line("sequential answer, median (10,000)", seq_median, statistics.median(raw_lat))
    line("sequential answer, p99", seq_p99, p99(raw_lat))
    print(f"{'sequential throughput':<44} {10_000 / elapsed:>9.0f} answers/s  raw sqlite3 "
          f"{len(raw_lat) / sum(raw_lat):.0f}/s")
    line("1,000 concurrent answers, p50", statistics.median(concurrent), None)
    line("1,000 concurrent answers, p99", p99(concurrent), None)
    print(f"{'1,000 concurrent answers, throughput':<44} {1000 / burst:>9.0f} answers/s (burst {ms(burst)})")
    line("sustained 2,000 answers/s for 5 s, p50", statistics.median(sustained), None)
    line("sustained 2,000 answers/s for 5 s, p99", p99(sustained), None)
    print(f"{'sustained: answers completed per second':<44} {len(sustained) / sustained_elapsed:>9.0f} answers/s")


async def bench_startup(bank_dir: Path, tmp: Path) -> None:
    print("\n== start-up: bank load (500 questions) + migrations + bank sync, fresh database ==")
    times = []
    for i in range(10):
        t0 = time.perf_counter()
        bank = load_bank(bank_dir)
        db = await open_database(tmp / f"start{i}.sqlite3")
        service = StudyService(db, bank, ManualClock(NOW))
        await service.sync_bank()
        times.append(time.perf_counter() - t0)
        await db.close()
    schema = "\n".join(sql for _, _, sql in __import__("bot.storage.migrations", fromlist=["MIGRATIONS"]).MIGRATIONS)
    raw = []
    for i in range(10):
        t0 = time.perf_counter()
        for f in sorted(bank_dir.glob("*.yaml")):
            yaml.load(f.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        conn = sqlite3.connect(tmp / f"raw{i}.sqlite3")
        conn.executescript(schema)
        conn.close()
        raw.append(time.perf_counter() - t0)
    line("start-up (median of 10)", statistics.median(times), statistics.median(raw))


def bench_grading() -> None:
    print("\n== free-text grading (shipped bank, held-out answers) ==")
    bank = load_bank(ROOT / "questions")
    eval_file = ROOT / "tests" / "data" / "grading_eval.jsonl"
    items = [json.loads(x) for x in eval_file.read_text().splitlines() if x.strip()] if eval_file.exists() else []
    items = [i for i in items if i["question_id"] in bank.questions]
    if not items:
        items = [{"question_id": q.id, "answer": q.answer} for q in list(bank.questions.values())[:200]]
    times = []
    for item in items * 3:
        q = bank.questions[item["question_id"]]
        t0 = time.perf_counter()
        grade(q, item["answer"])
        times.append(time.perf_counter() - t0)
    print(f"{'grade one answer, median / p99':<44} {ms(statistics.median(times)):>12} / {ms(p99(times))} "
          f"({len(items)} answers)")


def bench_idle_memory(tmp: Path) -> None:
    print("\n== console idle memory ==")
    env = {**os.environ, "STUDYBOT_DATABASE": str(tmp / "console.sqlite3")}
    proc = subprocess.Popen([sys.executable, "-m", "adapters.app", "console"], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.readline()  # the greeting: start-up is done
    time.sleep(1.0)
    rss = next(int(x.split()[1]) for x in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
               if x.startswith("VmRSS"))
    proc.communicate(b"/quit\n", timeout=30)
    print(f"{'console idle RSS':<44} {rss / 1024:>9.1f} MB")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bank_dir = tmp / "bank"
        bank_dir.mkdir()
        synthetic_bank(bank_dir, args.questions)
        bank = load_bank(bank_dir)
        path = tmp / "bench.sqlite3"
        db = await open_database(path)
        service = StudyService(db, bank, ManualClock(NOW))
        await service.sync_bank()
        await db.close()
        load_attempts(path, args.attempts, args.members, list(bank.questions))
        await bench_leaderboards(path, bank_dir)
        await bench_answers(path, bank_dir, args.members)
        await bench_startup(bank_dir, tmp)
        bench_grading()
        bench_idle_memory(tmp)


if __name__ == "__main__":
    asyncio.run(main())
