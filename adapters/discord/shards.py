"""Discord shards across processes: which shards this process connects, and when each may IDENTIFY.

- `STUDYBOT_DISCORD_SHARDS` (`0-3`, `0,2`) and `STUDYBOT_DISCORD_SHARD_COUNT` (`8` or `auto`) turn on
  discord.py's AutoShardedClient with those shard ids; a guild's events and interactions reach the process
  owning shard `(guild_id >> 22) % count`. Without them the adapter is one plain Client, as always.
- `auto` takes the count Discord recommends (`GET /gateway/bot`, read after login).
- IDENTIFY concurrency: Discord lets shard `s` identify in bucket `s % max_concurrency`, one per bucket every
  5 s (`session_start_limit.max_concurrency` of `/gateway/bot`). discord.py 2.7 never reads that value: it
  sleeps 5 s before every IDENTIFY after a process's first, which neither uses the allowance nor stops two
  processes from identifying in one bucket at once. `IdentifyGate` takes a 5 s lease row per bucket in the
  bot's database (the scheduler's lease table), so every process of a deployment shares the rule.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.domain import iso
from bot.errors import ConfigError
from bot.ports.schedule import ScheduleRunsPort

log = logging.getLogger("adapters.discord.adapter")

IDENTIFY_WINDOW = 5.0  # seconds: Discord's identify rate limit, one per bucket in this long
LEASE_PREFIX = "discord-identify:"
POLL = 0.25


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """What this process connects: `ids` of `count` shards (count None: Discord's recommendation)."""

    ids: tuple[int, ...] | None  # None: all of them
    count: int | None

    def resolve(self, recommended: int) -> tuple[list[int], int]:
        """The shard ids and count once Discord's recommendation is known; ConfigError when they do not fit."""
        count = self.count if self.count is not None else recommended
        ids = list(self.ids) if self.ids is not None else list(range(count))
        if ids[-1] >= count:
            raise ConfigError(f"STUDYBOT_DISCORD_SHARDS names shard {ids[-1]}, but Discord recommends {count} "
                              f"shard(s) (STUDYBOT_DISCORD_SHARD_COUNT=auto): the shards are 0 to {count - 1}")
        return ids, count


def shard_plan(settings: Settings) -> ShardPlan | None:
    """The shard settings, None when unset (one plain connection); ConfigError naming the setting."""
    invalid = {name: form for name, form in settings.invalid().items()
               if name in ("STUDYBOT_DISCORD_SHARDS", "STUDYBOT_DISCORD_SHARD_COUNT")}
    for name, form in invalid.items():
        raise ConfigError(f"{name} must be {form}")
    for problem in settings.shard_problems():
        raise ConfigError(problem)
    ids, count = settings.discord_sharding()
    if count is None:
        return None
    return ShardPlan(ids, count if isinstance(count, int) else None)


def describe_ids(ids: list[int]) -> str:
    """0,1,2,3,5 -> '0-3,5'."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


class IdentifyGate:
    """One IDENTIFY per bucket (`shard % max_concurrency`) per `window`, across every process on the database:
    `wait(shard)` returns once this process holds the bucket's lease for the next `window` seconds. The lease
    is never released: it lapses, which is the spacing. Wall-clock time (it is Discord's limit, not study
    time); processes on several machines need their clocks in sync to well under the window."""

    def __init__(self, leases: ScheduleRunsPort | None, *, max_concurrency: int = 1,
                 window: float = IDENTIFY_WINDOW, poll: float = POLL) -> None:
        self.leases = leases
        self.max_concurrency = max(1, max_concurrency)
        self.window = window
        self.poll = poll
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[int, float] = {}

    async def wait(self, shard_id: int) -> None:
        bucket = shard_id % self.max_concurrency
        async with self._locks[bucket]:
            loop = asyncio.get_running_loop()
            last = self._last.get(bucket)
            if last is not None and loop.time() - last < self.window:  # this process's own spacing
                await asyncio.sleep(self.window - (loop.time() - last))
            await self._lease(bucket)
            self._last[bucket] = loop.time()

    async def _lease(self, bucket: int) -> None:
        if self.leases is None:
            return
        holder = uuid.uuid4().hex
        waited = False
        while True:
            now = datetime.now(UTC)
            try:
                if await self.leases.acquire_lease(f"{LEASE_PREFIX}{bucket}", holder,
                                                   iso(now + timedelta(seconds=self.window)), iso(now)):
                    return
            except Exception:
                # The database is down: wait a whole window, the safe side of the limit, and go on.
                log.warning("Discord: identify lease for bucket %d unavailable; waiting %.0f s", bucket, self.window,
                            exc_info=True)
                await asyncio.sleep(self.window)
                return
            if not waited:
                log.info("Discord: another process is identifying in bucket %d; waiting", bucket)
                waited = True
            await asyncio.sleep(self.poll)


def session_limit(limits: Any) -> tuple[int, int | None, float | None]:
    """(max_concurrency, remaining, reset_after s) from /gateway/bot's session_start_limit."""
    if not isinstance(limits, dict):
        return 1, None, None
    concurrency = limits.get("max_concurrency")
    remaining = limits.get("remaining")
    reset = limits.get("reset_after")
    return (int(concurrency) if isinstance(concurrency, int) and concurrency >= 1 else 1,
            remaining if isinstance(remaining, int) else None,
            reset / 1000 if isinstance(reset, int | float) else None)
