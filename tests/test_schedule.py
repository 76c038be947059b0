"""The scheduler with a hand-moved clock: what is due, exactly once, in each channel's own timezone."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bank import Bank
from bot.clock import ManualClock
from bot.messages import Message
from bot.schedule import DAILY, DIGEST, REVEAL, Scheduler, local_moment
from bot.service import ChannelSettings, StudyService
from bot.storage import Database, open_database
from tests.conftest import actor


class Recorder:
    supports_images = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        self.sent.append((to or channel.external_id, message))
        return f"m{len(self.sent)}"

    def kinds(self) -> list[str]:
        return [m.kind or "" for _, m in self.sent]


OPEN: list[Database] = []


@pytest.fixture(autouse=True)
async def close_databases() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()


async def make(tmp_path: Path, bank: Bank, clock: ManualClock, name: str = "db.sqlite3",
               catchup: float = 6) -> tuple[StudyService, Scheduler, Recorder]:
    db = await open_database(tmp_path / name)
    OPEN.append(db)
    service = StudyService(db, bank, clock, rng=random.Random(3))
    await service.sync_bank()
    recorder = Recorder()
    return service, Scheduler(service, {"console": recorder}, catchup=timedelta(hours=catchup)), recorder


async def run_until(scheduler: Scheduler, clock: ManualClock, end: datetime) -> None:
    """What the console's /advance and APScheduler do: wake at each due time until `end`."""
    while True:
        wake = await scheduler.next_wakeup()
        if wake is None or wake > end:
            break
        clock.set(wake)
        await scheduler.run_due()
    clock.set(end)
    await scheduler.run_due()


@pytest.fixture
def monday_morning() -> ManualClock:
    return ManualClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))  # Monday


async def test_a_week_of_posts_reveals_and_one_digest(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    admin = actor("lead", admin=True)
    await service.setup(admin, time="09:00", timezone="Europe/Berlin", days="weekdays")
    await run_until(scheduler, monday_morning, monday_morning.now() + timedelta(days=7))
    kinds = rec.kinds()
    assert kinds.count("Daily question") == 5
    assert kinds.count("Weekly digest") == 1
    # Mon-Thu are revealed just before the next question; Friday's waits for Monday 08:55
    assert kinds.count("Reveal") == 4
    rows = await service.db.fetchall("SELECT local_date, posted_at FROM posts WHERE kind = 'daily' ORDER BY id")
    daily_times = [datetime.fromisoformat(r["posted_at"]).astimezone(ZoneInfo("Europe/Berlin")) for r in rows]
    assert [t.strftime("%a %H:%M") for t in daily_times] == [
        "Mon 09:00", "Tue 09:00", "Wed 09:00", "Thu 09:00", "Fri 09:00"]
    # no question repeats while the pool lasts (6 questions in the fixture bank)
    used = await service.db.fetchall("SELECT question_id FROM posts WHERE kind = 'daily'")
    assert len({r[0] for r in used}) == 5


async def test_topics_take_turns(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, _ = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00", days="daily")
    await run_until(scheduler, monday_morning, monday_morning.now() + timedelta(days=6))
    rows = await service.db.fetchall("SELECT question_id FROM posts WHERE kind = 'daily' ORDER BY id")
    topics = [bank.questions[r[0]].topic for r in rows]
    assert len(rows) == 6 and topics.count("training") == 3 and topics.count("statistics") == 3
    assert all(a != b for a, b in itertools.pairwise(topics))


async def test_downtime_across_post_time_gives_one_catch_up_post(tmp_path: Path, bank: Bank,
                                                                 monday_morning: ManualClock) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00")
    # the bot is down from 06:00 to 11:30; on start-up it catches up once
    monday_morning.set(datetime(2026, 11, 16, 11, 30, tzinfo=UTC))
    await scheduler.run_due()
    assert rec.kinds() == ["Daily question", "Weekly digest"]  # Monday: the digest was due too
    # two quick restarts: new Scheduler objects (new processes) on the same database
    for _ in range(2):
        restarted = Scheduler(service, {"console": rec})
        await restarted.run_due()
    assert rec.kinds() == ["Daily question", "Weekly digest"]
    count = await service.db.fetchone("SELECT COUNT(*) FROM posts WHERE kind = 'daily'")
    assert count is not None and count[0] == 1


async def test_two_processes_racing_post_once(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00")
    other_db = await open_database(service.db.path)
    OPEN.append(other_db)
    other = StudyService(other_db, bank, monday_morning)
    rec2 = Recorder()
    second = Scheduler(other, {"console": rec2})
    monday_morning.set(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
    await asyncio.gather(scheduler.run_due(), second.run_due())
    dailies = [k for k in rec.kinds() + rec2.kinds() if k == "Daily question"]
    assert len(dailies) == 1


async def test_downtime_past_the_window_is_skipped_and_logged(tmp_path: Path, bank: Bank, monday_morning: ManualClock,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00")
    monday_morning.set(datetime(2026, 11, 16, 16, 0, tzinfo=UTC))  # 7 h late, window 6 h
    with caplog.at_level(logging.WARNING, logger="bot.schedule"):
        await scheduler.run_due()
    assert rec.sent == []
    assert "skipped daily" in caplog.text
    run = await service.db.fetchone("SELECT outcome FROM scheduled_runs WHERE kind = 'daily'")
    assert run is not None and run[0] == "skipped"


async def test_reveal_timing_default_and_configured(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, _rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00", days="weekdays")
    await run_until(scheduler, monday_morning, datetime(2026, 11, 17, 9, 30, tzinfo=UTC))
    runs = await service.db.fetchall("SELECT kind, local_date, done_at FROM scheduled_runs ORDER BY done_at")
    reveal = next(r for r in runs if r["kind"] == REVEAL)
    assert reveal["local_date"] == "2026-11-16"
    assert datetime.fromisoformat(reveal["done_at"]) == datetime(2026, 11, 17, 8, 55, tzinfo=UTC)
    # Answering after the reveal no longer counts
    post = await service.db.fetchone("SELECT id FROM posts WHERE local_date = '2026-11-16'")
    assert post is not None
    late = await service.answer_choice(actor("zoe"), post[0], 0)
    assert not late.recorded and "already been revealed" in late.feedback.body

    other, sched2, rec2 = await make(tmp_path, bank, ManualClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC)), "b.sqlite3")
    await other.setup(actor("lead", admin=True), time="09:00", reveal_minutes=90)
    await run_until(sched2, other.clock, datetime(2026, 11, 16, 12, 0, tzinfo=UTC))  # type: ignore[arg-type]
    assert [k for k in rec2.kinds() if k != "Weekly digest"] == ["Daily question", "Reveal"]
    done = await other.db.fetchone("SELECT done_at FROM scheduled_runs WHERE kind = 'reveal'")
    assert done is not None and datetime.fromisoformat(done[0]) == datetime(2026, 11, 16, 10, 30, tzinfo=UTC)


async def test_reveal_shows_stats_fastest_and_missed_points(tmp_path: Path, bank: Bank,
                                                            monday_morning: ManualClock) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00", reveal_minutes=60)
    monday_morning.set(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
    await scheduler.run_due()
    post_id = rec.sent[0][1].post_id
    assert post_id is not None
    view = await service.post_view(post_id)
    right = view.order.index(0)
    monday_morning.advance(timedelta(seconds=42))
    await service.answer_choice(actor("fast"), post_id, right)
    monday_morning.advance(timedelta(minutes=5))
    await service.answer_choice(actor("slow"), post_id, right)
    await service.answer_choice(actor("wrong"), post_id, (right + 1) % 4)
    await service.answer_text(actor("writer"), post_id, "no idea at all")
    monday_morning.set(datetime(2026, 11, 16, 10, 0, tzinfo=UTC))
    await scheduler.run_due()
    reveal = rec.sent[-1][1]
    assert reveal.kind == "Reveal"
    fields = {f.name: f.value for f in reveal.fields}
    assert fields["Fastest correct answer"] == "fast after 42s"
    assert reveal.footer == "4 answered · 50% correct"
    assert view.question.key_points[0].point in fields["Most missed in written answers"]


async def test_digest_content_from_known_attempts(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, _rec = await make(tmp_path, bank, monday_morning)
    await service.setup(actor("lead", admin=True), time="09:00")
    await service.set_digest(actor("lead", admin=True), day="mon", time="10:00")
    # last week (Nov 9-15): bob leads; this week (Nov 16-22): amy overtakes
    for when, who, n in ((datetime(2026, 11, 10, 12, 0, tzinfo=UTC), "bob", 2),
                         (datetime(2026, 11, 11, 12, 0, tzinfo=UTC), "amy", 1),
                         (datetime(2026, 11, 17, 12, 0, tzinfo=UTC), "amy", 3),
                         (datetime(2026, 11, 18, 12, 0, tzinfo=UTC), "bob", 1)):
        monday_morning.set(when)
        for _ in range(n):
            card = await service.quiz(actor(who), "statistics", "easy")
            post = await service.post_view(card.post_id)  # type: ignore[arg-type]
            await service.answer_choice(actor(who), post.id, post.order.index(0))
            monday_morning.advance(timedelta(days=1))  # practice scores once a day per question
    message = await scheduler.digest(await service.channel_settings(1), date(2026, 11, 23), images=True)
    fields = {f.name: f.value for f in message.fields}
    top = fields["Top 10"].splitlines()
    assert top[0].startswith("1. amy · 15 pts (▲1)") and top[1].startswith("2. bob · 5 pts (▼1)")
    assert "Statistics basics: 100%" in fields["Team accuracy by topic"]
    assert fields["Participation"] == "2 members, 4 answers"
    assert message.image is not None and message.image.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(("zone", "spring", "autumn"), [
    ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
])
async def test_local_time_holds_across_dst(tmp_path: Path, bank: Bank, zone: str, spring: date, autumn: date) -> None:
    for change in (spring, autumn):
        start = datetime.combine(change - timedelta(days=2), datetime.min.time(), ZoneInfo(zone))
        clock = ManualClock(start)
        service, scheduler, _rec = await make(tmp_path, bank, clock, f"{zone.replace('/', '-')}-{change}.sqlite3")
        await service.setup(actor("lead", admin=True), time="09:00", timezone=zone, days="daily")
        await run_until(scheduler, clock, start + timedelta(days=5))
        rows = await service.db.fetchall("SELECT posted_at FROM posts WHERE kind = 'daily' ORDER BY id")
        local = [datetime.fromisoformat(r[0]).astimezone(ZoneInfo(zone)) for r in rows]
        assert [t.strftime("%H:%M") for t in local] == ["09:00"] * 5
        assert len({t.date() for t in local}) == 5
        offsets = {t.utcoffset() for t in local}
        assert len(offsets) == 2  # the UTC time moved with the change, the local time did not


def test_time_inside_a_spring_forward_gap_lands_after_it() -> None:
    zone = ZoneInfo("Europe/Berlin")
    moment = local_moment(date(2026, 3, 29), "02:30", zone)
    assert moment.astimezone(zone).strftime("%H:%M") == "03:30"
    once = local_moment(date(2026, 10, 25), "02:30", zone)  # repeated hour: the first one
    assert once == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


async def test_paused_channel_posts_nothing(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, scheduler, rec = await make(tmp_path, bank, monday_morning)
    admin = actor("lead", admin=True)
    await service.setup(admin, time="09:00")
    await service.set_paused(admin, True)
    await run_until(scheduler, monday_morning, monday_morning.now() + timedelta(days=7))
    assert rec.sent == []
    await service.set_paused(admin, False)
    await run_until(scheduler, monday_morning, monday_morning.now() + timedelta(days=1))
    assert [k for k in rec.kinds() if k != "Weekly digest"] == ["Daily question"]


async def test_lease_keeps_a_second_scheduler_out(tmp_path: Path, bank: Bank, monday_morning: ManualClock) -> None:
    service, first, _ = await make(tmp_path, bank, monday_morning)
    second = Scheduler(service, {})
    assert await first.acquire_lease()
    assert not await second.acquire_lease()
    monday_morning.advance(timedelta(minutes=5))  # the first one stopped renewing
    assert await second.acquire_lease()


def test_kind_constants() -> None:
    assert (DAILY, REVEAL, DIGEST) == ("daily", "reveal", "digest")
