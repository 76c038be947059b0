"""Fan-out at the platforms' limits: N channels due at 09:00, posted through the real discord.py against the
local fake Discord enforcing Discord's published limits (a global budget per second, 5 messages per 5 s per
channel, 429 with retry_after beyond them). Prints the delivery rate beside the rate the limits allow (the
floor to beat: 90%), posts lost and duplicated, 429s received and any 429 not honoured.

The fake enforces Discord's published numbers by default (50 requests a second; 10,000 posts take about
200 s); --global-per-second raises the budget to see where the bot itself becomes the limit.

    .venv/bin/python bench/fanout_bench.py [--channels N] [--global-per-second R]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.discord.adapter import DiscordPlatform  # noqa: E402
from bot.bank import load_bank  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.schedule import Scheduler  # noqa: E402
from bot.service import Actor, StudyService  # noqa: E402
from bot.storage import open_database  # noqa: E402
from tests.fakes.discord_server import TOKEN, FakeDiscord, RateLimits  # noqa: E402

FIXTURE_BANK = ROOT / "tests" / "data" / "bank"
FLOOR = 0.90


async def configure(service: StudyService, fake: FakeDiscord, channels: int) -> list[int]:
    """`channels` text channels in the fake's guild, each set up for a daily question at 09:00 UTC."""
    template = fake.channels[fake.channel_id]
    ids = []
    for n in range(channels):
        cid = fake.snowflake()
        fake.channels[cid] = {**template, "id": str(cid), "name": f"study-{n}"}
        ids.append(cid)
        admin = Actor("discord", str(fake.guild_id), str(cid), "lead", "Lead", is_admin=True)
        await service.setup(admin, time="09:00", timezone="UTC", reveal_minutes=600)
    return ids


async def run(channels: int, global_per_second: int) -> bool:
    limits = RateLimits(global_per_second=global_per_second)
    fake = FakeDiscord(rate_limits=limits)
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(Path(tmp) / "fanout.sqlite3")
        clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
        service = StudyService(db, load_bank(FIXTURE_BANK), clock)
        await service.sync_bank()
        t0 = time.perf_counter()
        ids = await configure(service, fake, channels)
        print(f"configured {channels:,} channels in {time.perf_counter() - t0:.1f} s")
        # The operator's budget is Discord's limit for this bot (here the fake's): STUDYBOT_DISCORD_POSTS_PER_SECOND.
        settings = Settings(discord_token=TOKEN, discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url,
                            discord_posts_per_second=float(global_per_second))
        platform = DiscordPlatform(service, settings, guild_ready_timeout=0.05)
        await platform.start()
        try:
            scheduler = Scheduler(service, {"discord": platform.publisher})
            clock.advance(timedelta(hours=1, seconds=1))
            fake.limiter.global_window.used = 0  # type: ignore[union-attr]
            start = time.perf_counter()
            results = await scheduler.run_due()
            elapsed = time.perf_counter() - start
        finally:
            await platform.stop()
            await db.close()
    await fake.close()
    posts = Counter(int(m["channel_id"]) for m in fake.messages.values())
    lost = sum(1 for cid in ids if posts[cid] == 0)
    duplicated = sum(1 for cid in ids if posts[cid] > 1)
    delivered = sum(1 for cid in ids if posts[cid] == 1)
    limiter = fake.limiter
    assert limiter is not None
    allowed = global_per_second
    rate = delivered / elapsed
    ok = rate >= FLOOR * allowed and lost == 0 and duplicated == 0 and not limiter.dishonoured
    print(f"delivered {delivered:,} posts in {elapsed:.1f} s: {rate:,.0f} posts/s; the limits allow {allowed:,}/s "
          f"-> {rate / allowed:.0%} (floor {FLOOR:.0%}) {'ok' if ok else 'BELOW FLOOR OR INCORRECT'}")
    print(f"lost {lost}, duplicated {duplicated}, jobs run {len(results):,}, 429s received {limiter.sent_429}, "
          f"429s not honoured {len(limiter.dishonoured)}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--global-per-second", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"== Discord fan-out: {args.channels:,} channels due at once ==")
    asyncio.run(run(args.channels, args.global_per_second))


if __name__ == "__main__":
    main()
