"""Several bot processes on one PostgreSQL database: bursts with duplicates through two replicas, kill -9 of
one during a burst, and the scheduler moving to a standby when its leader dies."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.bank import load_bank
from bot.clock import ManualClock
from bot.service import Actor, StudyService
from bot.storage import Database, open_store
from tests import pgserver
from tests.conftest import FIXTURE_BANK, ROOT


@dataclass
class Replica:
    proc: asyncio.subprocess.Process
    acks: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, item: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(item) + "\n").encode())
        await self.proc.stdin.drain()

    async def read_until(self, count: int, within: float = 60) -> None:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            while len(self.acks) < count:
                line = await self.proc.stdout.readline()
                if not line:
                    return
                self.acks.append(json.loads(line))


async def start_replica(url: str, *args: str) -> Replica:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.replica", url, str(FIXTURE_BANK), *args, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    replica = Replica(proc)
    if args[0] == "answers":
        await replica.read_until(1)
        assert replica.acks.pop(0) == {"ready": True}
    return replica


async def stop(replica: Replica) -> None:
    if replica.proc.returncode is None:
        replica.proc.kill()
    await replica.proc.wait()


@pytest.fixture
async def shared(postgres: pgserver.Server) -> AsyncIterator[tuple[str, Database, StudyService]]:
    url = postgres.new_database()
    db = await open_store(url)
    service = StudyService(db, load_bank(FIXTURE_BANK), ManualClock(datetime.now(UTC)), rng=random.Random(3))
    await service.sync_bank()
    yield url, db, service
    await db.close()


async def new_post(service: StudyService) -> tuple[int, int, int]:
    """A practice post: its id, the shown index of its right option and of a wrong one."""
    card = await service.quiz(Actor("test", "team", "general", "setup", "setup"))
    assert card.post_id is not None
    post = await service._post(card.post_id)
    right = post.order.index(0)
    return card.post_id, right, (right + 1) % len(post.order)


async def totals_agree(db: Database) -> None:
    """The boards kept on write match the attempts they were built from, member by member."""
    attempts = {r[0]: (r[1], r[2], r[3]) for r in await db.fetchall(
        "SELECT member_id, SUM(points), SUM(correct), COUNT(*) FROM attempts GROUP BY member_id")}
    boards = {r[0]: (r[1], r[2], r[3]) for r in await db.fetchall(
        "SELECT member_id, points, correct, answered FROM totals WHERE period = 'all' AND topic = ''")}
    assert boards == attempts
    posts = {r[0]: (r[1], r[2]) for r in await db.fetchall("SELECT id, answered, correct FROM posts")}
    by_post = {r[0]: (r[1], r[2]) for r in await db.fetchall(
        "SELECT post_id, COUNT(*), SUM(correct) FROM attempts GROUP BY post_id")}
    assert {k: v for k, v in posts.items() if v != (0, 0)} == by_post


async def test_a_burst_with_duplicates_through_two_replicas_counts_each_member_once(shared: Any) -> None:
    url, db, service = shared
    posts = [await new_post(service) for _ in range(3)]
    a, b = await start_replica(url, "answers"), await start_replica(url, "answers")
    try:
        clicks = [{"user": f"u{n}", "post": post_id, "shown": right if n % 3 else wrong}
                  for n in range(150) for post_id, right, wrong in posts]
        random.Random(5).shuffle(clicks)
        for click in clicks:  # every click reaches both replicas, as a double click behind a load balancer
            await a.send(click)
            await b.send(click)
        await asyncio.gather(a.read_until(len(clicks)), b.read_until(len(clicks)))
        assert len(a.acks) == len(b.acks) == len(clicks)
        recorded = Counter((ack["user"], ack["post"]) for ack in a.acks + b.acks if ack["recorded"])
        assert len(recorded) == len(clicks) and set(recorded.values()) == {1}
        rows = await db.fetchall("SELECT member_id, post_id FROM attempts")
        assert len(rows) == len(clicks) == len({(r[0], r[1]) for r in rows})
        for post_id, _, _ in posts:
            row = await db.fetchone("SELECT answered, correct FROM posts WHERE id = ?", (post_id,))
            assert (row[0], row[1]) == (150, 100)
        await totals_agree(db)
        # Three posts answered at once through both replicas: each member's answered count is exactly 3.
        answered = await db.fetchall("SELECT answered FROM totals WHERE period = 'all' AND topic = ''")
        assert {r[0] for r in answered} == {3}
    finally:
        await stop(a)
        await stop(b)


async def test_kill_9_during_a_burst_loses_no_acknowledged_answer(shared: Any) -> None:
    url, db, service = shared
    post_id, right, _ = await new_post(service)
    a, b = await start_replica(url, "answers"), await start_replica(url, "answers")
    try:
        clicks = [{"user": f"m{n}", "post": post_id, "shown": right} for n in range(400)]
        for click in clicks:
            await a.send(click)
        await a.read_until(60)
        os.kill(a.proc.pid, signal.SIGKILL)  # mid-burst: some answers acknowledged, others in flight
        await a.proc.wait()
        await a.read_until(len(clicks), within=5)  # whatever it printed before dying
        acknowledged = {ack["user"] for ack in a.acks if ack["recorded"]}
        assert 60 <= len(acknowledged) < len(clicks)
        stored = {r[0] for r in await db.fetchall(
            "SELECT m.external_id FROM attempts a JOIN members m ON m.id = a.member_id WHERE a.post_id = ?",
            (post_id,))}
        assert acknowledged <= stored  # every answer a member was told about is committed
        for click in clicks:  # the members click again, now served by the surviving replica
            await b.send(click)
        await b.read_until(len(clicks))
        assert {ack["user"] for ack in b.acks if ack["recorded"]} == {c["user"] for c in clicks} - stored
        row = await db.fetchone("SELECT answered FROM posts WHERE id = ?", (post_id,))
        assert row[0] == len(clicks)
        await totals_agree(db)
    finally:
        await stop(a)
        await stop(b)




async def test_streaks_stay_right_when_replicas_take_turns(shared: Any) -> None:
    url, db, service = shared
    channel = await service.channel_id(Actor("test", "team", "general", "setup", "setup"))
    days = []
    for day in range(1, 5):
        question = service.bank.questions[sorted(service.bank.questions)[day]]
        post_id = await service.create_post(channel, question, kind="daily", local_date=f"2026-11-0{day}")
        assert post_id is not None
        days.append((post_id, (await service._post(post_id)).order.index(0)))
    replicas = [await start_replica(url, "answers"), await start_replica(url, "answers")]
    try:
        for number, (post_id, right) in enumerate(days):
            expected = [len(r.acks) for r in replicas]
            for n in range(20):  # each member's days alternate between the replicas
                which = (n + number) % 2
                await replicas[which].send({"user": f"s{n}", "post": post_id, "shown": right})
                expected[which] += 1
            await asyncio.gather(*(r.read_until(count) for r, count in zip(replicas, expected, strict=True)))
        rows = await db.fetchall("SELECT streak, best_streak FROM members WHERE external_id LIKE 's%'")
        assert len(rows) == 20 and {(r[0], r[1]) for r in rows} == {(4, 4)}
        await totals_agree(db)
    finally:
        for replica in replicas:
            await stop(replica)


async def test_the_scheduler_moves_to_a_standby_when_its_leader_dies(shared: Any) -> None:
    """Twelve channels post from 09:00 to 10:50 (simulated, 20 minutes a second), each revealed 30 minutes
    later. The leader is killed mid-morning; the standby takes over and every post and reveal goes out once."""
    url, db, service = shared
    service.clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))  # set up before the simulated morning
    for n in range(12):
        admin = Actor("test", "team", f"c{n}", "boss", "boss", is_admin=True)
        await service.setup(admin, time=f"{9 + n // 6:02d}:{(n % 6) * 10:02d}", reveal_minutes=30)
    start, speed = "2026-11-18T08:55:00+00:00", 1200.0
    epoch = f"{time.time() + 1.5:.3f}"  # both replicas read the same simulated time
    a = await start_replica(url, "schedule", start, str(speed), epoch)
    await asyncio.sleep(0.5)
    b = await start_replica(url, "schedule", start, str(speed), epoch)
    try:
        await a.read_until(1, within=30)
        assert a.acks[0]["leader"] is True
        await a.read_until(1 + 8, within=30)  # eight posts and reveals out...
        await asyncio.sleep(0.15)  # ...and between two of them (events are 0.5 s apart) the leader dies
        os.kill(a.proc.pid, signal.SIGKILL)
        await a.proc.wait()
        await a.read_until(100, within=2)
        await b.read_until(1 + 2 * 12 - sum(1 for x in a.acks if "posted" in x), within=60)
        assert [x["leader"] for x in b.acks if "leader" in x] == [True]
        published = Counter((x["posted"], x["card"]) for x in a.acks + b.acks if "posted" in x)
        channels = {r[0] for r in await db.fetchall("SELECT id FROM channels")}
        assert published == Counter({(c, card): 1 for c in channels for card in (True, False)})
        for _ in range(100):  # the last publish is printed just before its run is recorded
            runs = await db.fetchall("SELECT kind, outcome FROM scheduled_runs")
            if all(r[1] != "running" for r in runs):
                break
            await asyncio.sleep(0.05)
        assert Counter((r[0], r[1]) for r in runs) == Counter({("daily", "posted"): 12, ("reveal", "posted"): 12})
    finally:
        await stop(a)
        await stop(b)


async def test_a_job_claimed_by_a_dead_leader_is_run_by_the_next_one(db: Database, bank: Any) -> None:
    """The leader claimed the daily post, made it, and died before publishing: the next leader publishes
    that post once the claim is stale, and does not make a second one."""
    from bot.schedule import STALE_CLAIM, Scheduler, due_jobs

    clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
    service = StudyService(db, bank, clock, rng=random.Random(1))
    await service.sync_bank()
    await service.setup(Actor("test", "team", "general", "boss", "boss", is_admin=True), time="09:00")
    published: list[bool] = []

    class Publisher:
        supports_images = False

        async def publish(self, channel: object, message: Any, to: str | None = None) -> str:
            published.append(bool(message.buttons))
            return "ref"

    clock.advance(timedelta(hours=1, minutes=1))
    dying = Scheduler(service, {"test": Publisher()})
    channels, done, daily = await dying._state()
    [job] = [j for j in due_jobs(channels, done, daily, clock.now(), dying.catchup) if j.kind == "daily"]
    assert await dying._claim(job, "running")
    channel = (await service.scheduled_channels())[0]
    await dying._daily(channel, job)  # the post is made; the process dies before publishing it
    assert published == []
    heir = Scheduler(service, {"test": Publisher()})
    assert await heir.run_due() == []  # the claim is fresh: the leader may still be publishing
    clock.advance(STALE_CLAIM + timedelta(seconds=1))
    await heir.run_due()
    assert published == [True]
    rows = await db.fetchall("SELECT outcome, post_id FROM scheduled_runs WHERE kind = 'daily'")
    assert [r[0] for r in rows] == ["posted"] and rows[0][1] is not None
    assert len(await db.fetchall("SELECT id FROM posts WHERE kind = 'daily'")) == 1
