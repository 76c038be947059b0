"""Wake the scheduler when something falls due, with APScheduler 3 (AsyncIOScheduler).

APScheduler only decides *when* to look: what is due, and whether it already ran, comes from the
database through `Scheduler.run_due`, so a restart or a second process never doubles a post. Jobs live
in memory and are recomputed after every run; nothing is pickled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.schedule import Scheduler

log = logging.getLogger(__name__)
TICK = timedelta(seconds=30)  # safety net and lease renewal: a standby takes over within LEASE_TTL + TICK


class Wakeups:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._aps = AsyncIOScheduler(timezone=UTC)
        self.holding = False
        self.started = False
        self._stopping = False
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        self.started = True
        self._aps.start()
        self._aps.add_job(self.tick, IntervalTrigger(seconds=TICK.total_seconds()), id="tick",
                          misfire_grace_time=None, coalesce=True, max_instances=1)
        await self.tick()

    async def tick(self) -> None:
        """Renew the lease, run what is due (catching up after downtime), then plan the next wake-up."""
        if self._stopping:
            return
        self._running += 1
        self._idle.clear()
        try:
            await self._tick()
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def _tick(self) -> None:
        try:
            holding = await self.scheduler.acquire_lease()
            if holding != self.holding:
                log.log(logging.INFO if holding else logging.WARNING,
                        "scheduler lease %s", "acquired" if holding else
                        "held by another replica: this one stands by and takes over if that one stops")
                self.holding = holding
            if not holding:
                return
            await self.scheduler.run_due()
            wake = await self.scheduler.next_wakeup()
            if wake is not None and not self._stopping:
                self._aps.add_job(self.tick, DateTrigger(run_date=max(wake, datetime.now(UTC))), id="due",
                                  replace_existing=True, misfire_grace_time=None, max_instances=1)
        except Exception:
            log.exception("scheduler tick failed; retrying at the next tick")

    async def stop(self, grace: float = 20.0) -> None:
        """Stop waking up; a run in progress (a post being published) may finish within `grace` seconds."""
        self._stopping = True
        if not self.started:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("scheduler still busy after %.0fs; stopping it anyway", grace)
        self._aps.shutdown(wait=False)
        if self.holding:
            await self.scheduler.release_lease()
