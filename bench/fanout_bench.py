"""Fan-out at the platforms' limits: N channels due at 09:00, posted through the real discord.py and
slack-bolt (slack-sdk) against the local fakes enforcing the platforms' published limits (Discord: a global
budget per second and 5 messages per 5 s per channel; Slack: one message per second per channel and a
budget per workspace; 429 with a retry-after beyond them). Prints the delivery rate beside the rate the
limits allow (the floor to beat: 90%), posts lost and duplicated, 429s received and any 429 not honoured.

The fake enforces Discord's published numbers by default (50 requests a second; 10,000 posts take about
200 s); --global-per-second raises the budget to see where the bot itself becomes the limit.

Slack publishes no workspace figure for chat.postMessage beyond "a few hundred a minute"; the fake's
budget is --slack-per-second (default 100/s, so 10,000 channels take 100 s).

    .venv/bin/python bench/fanout_bench.py [--channels N] [--global-per-second R] [--slack-per-second R]
                                           [--platform discord|slack|both]
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


def report(label: str, ids: list[str], posts: Counter[str], elapsed: float, allowed: int, sent_429: int,
           dishonoured: int, jobs: int) -> bool:
    lost = sum(1 for cid in ids if posts[cid] == 0)
    duplicated = sum(1 for cid in ids if posts[cid] > 1)
    delivered = sum(1 for cid in ids if posts[cid] == 1)
    rate = delivered / elapsed
    ok = rate >= FLOOR * allowed and lost == 0 and duplicated == 0 and not dishonoured
    print(f"{label}: delivered {delivered:,} posts in {elapsed:.1f} s: {rate:,.0f} posts/s; the limits allow "
          f"{allowed:,}/s -> {rate / allowed:.0%} (floor {FLOOR:.0%}) {'ok' if ok else 'BELOW FLOOR OR INCORRECT'}")
    print(f"{label}: lost {lost}, duplicated {duplicated}, jobs run {jobs:,}, 429s received {sent_429}, "
          f"429s not honoured {dishonoured}")
    return ok


async def run_slack(channels: int, per_second: int) -> bool:
    from adapters.slack.adapter import SlackPlatform
    from tests.fakes.slack_server import FakeSlack, SlackLimits

    fake = await FakeSlack(limits=SlackLimits(per_team_per_second=per_second)).start()
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(Path(tmp) / "fanout.sqlite3")
        clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
        service = StudyService(db, load_bank(FIXTURE_BANK), clock)
        await service.sync_bank()
        ids = [f"C{n:06d}" for n in range(channels)]
        t0 = time.perf_counter()
        for channel in ids:
            await service.setup(Actor("slack", fake.team, channel, "UADMIN", "Ada", is_admin=True),
                                time="09:00", timezone="UTC", reveal_minutes=600)
        print(f"configured {channels:,} Slack channels in {time.perf_counter() - t0:.1f} s")
        settings = Settings(database=Path(tmp) / "unused.sqlite3", slack_bot_token=fake.token,
                            slack_signing_secret="bench", slack_mode="http", slack_port=0,
                            slack_api_url=fake.api_url, slack_posts_per_second=float(per_second))
        platform = SlackPlatform(service, settings, host="127.0.0.1")
        await platform.start()
        try:
            clock.advance(timedelta(hours=1, seconds=1))
            start = time.perf_counter()
            results = await Scheduler(service, {"slack": platform.publisher}).run_due()
            elapsed = time.perf_counter() - start
        finally:
            await platform.stop()
            await db.close()
    await fake.stop()
    limiter = fake.limiter
    assert limiter is not None
    posts = Counter(channel for channel, _ in fake.messages)
    return report("Slack", ids, posts, elapsed, per_second, limiter.sent_429, len(limiter.dishonoured), len(results))


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
    posts = Counter(m["channel_id"] for m in fake.messages.values())
    limiter = fake.limiter
    assert limiter is not None
    return report("Discord", [str(i) for i in ids], posts, elapsed, global_per_second, limiter.sent_429,
                  len(limiter.dishonoured), len(results))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--global-per-second", type=int, default=50)
    parser.add_argument("--slack-per-second", type=int, default=100)
    parser.add_argument("--platform", choices=["discord", "slack", "both"], default="both")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.platform in ("discord", "both"):
        print(f"== Discord fan-out: {args.channels:,} channels due at once ==")
        asyncio.run(run(args.channels, args.global_per_second))
    if args.platform in ("slack", "both"):
        print(f"== Slack fan-out: {args.channels:,} channels due at once ==")
        asyncio.run(run_slack(args.channels, args.slack_per_second))


if __name__ == "__main__":
    main()
