"""What is due, and doing it exactly once.

`due_jobs` is one pure function of the channel settings, what has already run, and the time. The
scheduler wakes up (APScheduler in production, `/advance` in the console, a hand-moved clock in tests),
asks it what is due and runs each job after claiming its (channel, kind, local date) row: a second process
or a quick restart finds the row taken and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.bank.model import Question
from bot.domain import WEEKDAYS, ChannelSettings, iso
from bot.messages import Message
from bot.ports.schedule import ScheduleRunsPort
from bot.reports import DIGEST_TITLE, REVEAL_TITLE, Reports
from bot.service import StudyService

log = logging.getLogger(__name__)

DAILY, REVEAL, DIGEST = "daily", "reveal", "digest"
KIND_TITLES = {DAILY: "Daily question", REVEAL: REVEAL_TITLE, DIGEST: DIGEST_TITLE}
REVEAL_LEAD = timedelta(minutes=5)  # default reveal: this long before the next daily question
LEASE_NAME = "scheduler"
# A dead leader's lease lapses after LEASE_TTL; a standby renewing every 30 s (bot/timer.py) then takes over,
# so scheduling moves within 90 s. Exactly-once never rests on the lease: scheduled_runs claims guarantee it.
LEASE_TTL = timedelta(seconds=60)
# Scheduled jobs in flight at once. The publishers keep within each platform's rate limits; this only has
# to be enough to keep them busy while each request waits on the network.
FANOUT = 32
# A job claimed but never finished (its leader died mid-run) is run again by the next leader after this long.
# A post the dead leader created but never published is published then; one it published in its very last
# moment, before recording it, is the only case that can be posted twice.
STALE_CLAIM = timedelta(minutes=10)
CATCHUP_MARGIN = timedelta(days=2)


class Publisher(Protocol):
    """The port an adapter implements to post scheduled messages."""

    supports_images: bool

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        """Post `message` in the channel (or in channel id `to`); return the platform's message id."""
        ...


@dataclass(frozen=True, slots=True)
class Job:
    channel_id: int
    kind: str
    local_date: date
    due_at: datetime  # UTC
    skip: bool = False  # missed by more than the catch-up window: recorded as skipped, not posted late

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.channel_id, self.kind, self.local_date.isoformat())


def local_moment(day: date, at: str, zone: ZoneInfo) -> datetime:
    """`at` (HH:MM) on `day` in `zone`, as UTC. 09:00 local stays 09:00 local across DST changes;
    a time inside a spring-forward gap lands just after it."""
    hour, minute = (int(x) for x in at.split(":"))
    naive = datetime.combine(day, time(hour, minute))
    # fold=0: a repeated (fall-back) time means its first occurrence, and a missing (spring-forward)
    # time is read with the offset before the change, which lands it just after the gap.
    return naive.replace(tzinfo=zone, fold=0).astimezone(ZoneInfo("UTC"))


def _post_days(s: ChannelSettings, start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        if WEEKDAYS[day.weekday()] in s.weekdays:
            yield day
        day += timedelta(days=1)


def next_post_after(s: ChannelSettings, moment: datetime) -> datetime | None:
    zone = s.zone
    day = moment.astimezone(zone).date()
    for candidate in _post_days(s, day, day + timedelta(days=8)):
        at = local_moment(candidate, s.post_time, zone)
        if at > moment:
            return at
    return None


def reveal_time(s: ChannelSettings, post_day: date) -> datetime:
    posted = local_moment(post_day, s.post_time, s.zone)
    if s.reveal_minutes:
        return posted + timedelta(minutes=s.reveal_minutes)
    following = next_post_after(s, posted)
    return (following - REVEAL_LEAD) if following else posted + timedelta(hours=23)


def due_jobs(settings: Iterable[ChannelSettings], done: set[tuple[int, str, str]],
             daily_posts: dict[tuple[int, str], bool], now: datetime, catchup: timedelta) -> list[Job]:
    """Every job whose time has come and which has not run, oldest first; those missed by more than
    `catchup` (the bot was down) are marked `skip`.

    done: (channel id, kind, local date) already run or skipped.
    daily_posts: (channel id, local date) -> revealed?, for the daily posts that exist.
    """
    lookback = catchup + CATCHUP_MARGIN  # older misses are found too, so they can be recorded as skipped
    jobs: list[Job] = []
    for s in settings:
        zone = s.zone
        floor = max(now - lookback, _parse(s.enabled_at) or now - lookback)
        first, today = floor.astimezone(zone).date() - timedelta(days=8), now.astimezone(zone).date()
        if not s.paused:
            for day in _post_days(s, first, today):
                at = local_moment(day, s.post_time, zone)
                if floor <= at <= now and (s.id, DAILY, day.isoformat()) not in done:
                    jobs.append(Job(s.id, DAILY, day, at))
        for (channel_id, day_text), revealed in daily_posts.items():
            if channel_id != s.id or revealed or (s.id, REVEAL, day_text) in done:
                continue
            at = reveal_time(s, date.fromisoformat(day_text))
            if at <= now:
                jobs.append(Job(s.id, REVEAL, date.fromisoformat(day_text), at))
        if s.digest_time and s.digest_weekday and not s.paused:
            wanted = WEEKDAYS.index(s.digest_weekday)
            day = first
            while day <= today:
                if day.weekday() == wanted:
                    at = local_moment(day, s.digest_time, zone)
                    if floor <= at <= now and (s.id, DIGEST, day.isoformat()) not in done:
                        jobs.append(Job(s.id, DIGEST, day, at))
                day += timedelta(days=1)
    # Reveal before the next daily question; the digest after the day's question.
    order = {REVEAL: 0, DAILY: 1, DIGEST: 2}
    return [replace(j, skip=now - j.due_at > catchup) for j in sorted(jobs, key=lambda j: (j.due_at, order[j.kind]))]


def next_due(settings: Iterable[ChannelSettings], daily_posts: dict[tuple[int, str], bool],
             now: datetime) -> datetime | None:
    """When something next falls due (for waking up), at most a day ahead."""
    candidates: list[datetime] = []
    for s in settings:
        if not s.paused:
            nxt = next_post_after(s, now)
            if nxt:
                candidates.append(nxt)
            if s.digest_time and s.digest_weekday:
                day = now.astimezone(s.zone).date()
                for offset in range(8):
                    d = day + timedelta(days=offset)
                    if d.weekday() == WEEKDAYS.index(s.digest_weekday):
                        at = local_moment(d, s.digest_time, s.zone)
                        if at > now:
                            candidates.append(at)
                            break
        for (channel_id, day_text), revealed in daily_posts.items():
            if channel_id == s.id and not revealed:
                at = reveal_time(s, date.fromisoformat(day_text))
                if at > now:
                    candidates.append(at)
    return min(candidates, default=None)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Scheduler:
    """Runs due jobs through the service and a publisher. The database is the source of truth."""

    def __init__(self, service: StudyService, publishers: dict[str, Publisher], *,
                 catchup: timedelta = timedelta(hours=6), holder: str | None = None) -> None:
        self.service = service
        self.publishers = publishers
        self.catchup = catchup
        self.holder = holder or uuid.uuid4().hex
        self.reports = Reports(service)
        self.fanout = FANOUT
        self._holding = False

    @property
    def runs(self) -> ScheduleRunsPort:
        return self.service.store.schedule

    async def acquire_lease(self, ttl: timedelta = LEASE_TTL) -> bool:
        """One scheduler per deployment: a lease row that a second process cannot take while it is fresh."""
        now = self.service.clock.now()
        self._holding = await self.runs.acquire_lease(LEASE_NAME, self.holder, iso(now + ttl), iso(now))
        return self._holding

    async def release_lease(self) -> None:
        await self.runs.release_lease(LEASE_NAME, self.holder)

    async def _state(self) -> tuple[list[ChannelSettings], set[tuple[int, str, str]], dict[tuple[int, str], bool]]:
        channels = await self.service.scheduled_channels()
        since = (self.service.clock.now() - timedelta(days=10)).date().isoformat()
        done = await self.runs.settled_since(since, self._stale_before())
        daily = await self.runs.daily_reveals_since(since)
        return channels, done, daily

    async def next_wakeup(self) -> datetime | None:
        channels, _, daily = await self._state()
        return next_due(channels, daily, self.service.clock.now())

    async def run_due(self) -> list[tuple[Job, Message | None]]:
        """Do everything due now, each once; returns what was posted (None for skipped jobs), oldest first.

        Channels go side by side, FANOUT jobs at a time, so 10,000 channels due at 09:00 are posted as fast
        as the platforms allow: each publisher paces its requests to its platform's rate limits and waits
        out a 429. One channel's jobs run in order (yesterday's reveal before today's question)."""
        channels, done, daily = await self._state()
        now = self.service.clock.now()
        by_id = {c.id: c for c in channels}
        jobs = due_jobs(channels, done, daily, now, self.catchup)
        lanes: dict[int, list[Job]] = {}
        for job in jobs:
            lanes.setdefault(job.channel_id, []).append(job)
        slots = asyncio.Semaphore(self.fanout)
        outcomes: dict[tuple[int, str, str], tuple[bool, Message | None]] = {}

        async def lane(queue: list[Job]) -> None:
            for job in queue:
                async with slots:
                    outcomes[job.key] = await self._one(job, by_id[job.channel_id], now)

        renewing = asyncio.create_task(self._renew_lease()) if self._holding and len(jobs) > 1 else None
        try:
            await asyncio.gather(*(lane(queue) for queue in lanes.values()))
        finally:
            if renewing is not None:
                renewing.cancel()
        return [(job, outcomes[job.key][1]) for job in jobs if outcomes.get(job.key, (False, None))[0]]

    async def _one(self, job: Job, channel: ChannelSettings, now: datetime) -> tuple[bool, Message | None]:
        """(ran, what was posted): a job another process claimed first did not run here."""
        if job.skip:
            if not await self._claim(job, "skipped"):
                return False, None
            log.warning("skipped %s for channel %s on %s: missed by %s (catch-up window %s)",
                        job.kind, job.channel_id, job.local_date, now - job.due_at, self.catchup)
            if job.kind == REVEAL:
                await self._mark_revealed(job)
            return True, None
        if not await self._claim(job, "running"):
            return False, None
        return True, await self._run(channel, job)

    async def _renew_lease(self) -> None:
        """A long fan-out keeps the lease: without renewal a standby would take over mid-run (harmless, the
        claims hold, but two leaders would share the platforms' rate limits)."""
        while True:
            await asyncio.sleep(LEASE_TTL.total_seconds() / 3)
            await self.acquire_lease()

    async def _claim(self, job: Job, outcome: str) -> bool:
        """Only the claimer runs a job; a claim left `running` by a dead leader is taken over once stale."""
        return await self.runs.claim(job.key, iso(job.due_at), iso(self.service.clock.now()), outcome,
                                     self._stale_before())

    def _stale_before(self) -> str:
        return iso(self.service.clock.now() - STALE_CLAIM)

    async def _finish(self, job: Job, outcome: str, post_id: int | None = None) -> None:
        await self.runs.finish(job.key, outcome, post_id, iso(self.service.clock.now()))

    async def _run(self, channel: ChannelSettings, job: Job) -> Message | None:
        publisher = self.publishers.get(channel.platform)
        try:
            if job.kind == DAILY:
                message, post_id = await self._daily(channel, job)
            elif job.kind == REVEAL:
                message, post_id = await self._reveal(channel, job, images=False)
            else:
                images = bool(publisher and publisher.supports_images)
                message, post_id = await self.digest(channel, job.local_date, images=images), None
            if message is None:
                await self._finish(job, "nothing", post_id)
                return None
            ref = None
            if publisher is not None:
                to = channel.digest_channel if job.kind == DIGEST else None
                ref = await publisher.publish(channel, message, to=to)
            if ref and post_id and job.kind == DAILY:
                await self.service.set_message_ref(post_id, ref)
            await self._finish(job, "posted", post_id)
            return message
        except Exception:
            log.exception("scheduled %s for channel %s failed", job.kind, channel.id)
            await self._finish(job, "failed")
            return None

    async def _daily(self, channel: ChannelSettings, job: Job) -> tuple[Message | None, int | None]:
        question = await self.choose_daily(channel)
        post_id = await self.service.create_post(
            channel.id, question, kind="daily", local_date=job.local_date.isoformat(),
            reveal_at=reveal_time(channel, job.local_date))
        if post_id is None:  # made already: by a leader that died before publishing it, or another process
            existing = await self.runs.existing_daily(channel.id, job.local_date.isoformat())
            if existing is None or existing[1] is not None:
                return None, None
            post_id = existing[0]
        return await self.service.card(post_id), post_id

    async def choose_daily(self, channel: ChannelSettings) -> Question:
        """No repeat in a channel until its pool is used up; topics take turns by how often they ran."""
        bank = await self.service.pool_bank(channel)
        if not bank.questions:  # its own questions only, and the community has none yet: the whole bank
            bank = await self.service.bank_for(channel.community_id)
        pool = [q for q in bank.questions.values()
                if (not channel.topics or q.topic in channel.topics)
                and (not channel.difficulties or q.difficulty in channel.difficulties)]
        if not pool:
            pool = list(bank.questions.values())
        used = await self.runs.daily_question_counts(channel.id)
        fewest = min(used.get(q.id, 0) for q in pool)
        fresh = [q for q in pool if used.get(q.id, 0) == fewest]
        per_topic: Counter[str] = Counter()
        for qid, n in used.items():
            if qid in bank.questions:
                per_topic[bank.questions[qid].topic] += n
        topics = sorted({q.topic for q in fresh}, key=lambda t: (per_topic[t], self.service.rng.random()))
        return self.service.rng.choice([q for q in fresh if q.topic == topics[0]])

    async def _mark_revealed(self, job: Job) -> None:
        revealed = await self.runs.mark_daily_revealed(job.channel_id, job.local_date.isoformat(),
                                                       iso(self.service.clock.now()))
        for post_id in revealed:
            self.service.forget_post(post_id)  # answers after the reveal no longer count

    async def _reveal(self, channel: ChannelSettings, job: Job, images: bool) -> tuple[Message | None, int | None]:
        post_id = await self.runs.daily_post_id(channel.id, job.local_date.isoformat())
        if post_id is None:
            return None, None
        await self._mark_revealed(job)
        return await self.reveal_message(post_id), post_id

    async def reveal_message(self, post_id: int) -> Message:
        return await self.reports.reveal_message(post_id)

    async def digest(self, channel: ChannelSettings, day: date, *, images: bool) -> Message:
        return await self.reports.digest(channel, day, images=images)
