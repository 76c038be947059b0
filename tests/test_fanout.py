"""Fan-out at the platform's limits: many channels due at once are each posted once, and every 429 the
fake Discord sends (global or per channel, as Discord publishes them) is waited out. Rates are measured by
bench/fanout_bench.py, not here."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.discord.adapter import DiscordPlatform
from adapters.runtime import Pacer
from bot.bank import load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.messages import Message
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.storage import open_database
from tests.conftest import FIXTURE_BANK
from tests.fakes.discord_server import TOKEN, FakeDiscord, RateLimits

LIMITS = RateLimits(global_per_second=100, channel_messages=5, channel_window=0.5)


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[FakeDiscord, StudyService, ManualClock, DiscordPlatform]]:
    fake = FakeDiscord(rate_limits=LIMITS)
    await fake.start()
    db = await open_database(tmp_path / "fanout.sqlite3")
    clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
    service = StudyService(db, load_bank(FIXTURE_BANK), clock, rng=random.Random(4))
    await service.sync_bank()
    settings = Settings(discord_token=TOKEN, discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url)
    platform = DiscordPlatform(service, settings, guild_ready_timeout=0.05)
    await platform.start()
    yield fake, service, clock, platform
    await platform.stop()
    await db.close()
    await fake.close()


async def test_three_hundred_channels_due_at_once_each_get_one_post(limited: tuple[
        FakeDiscord, StudyService, ManualClock, DiscordPlatform]) -> None:
    fake, service, clock, platform = limited
    template = fake.channels[fake.channel_id]
    wanted = []
    for n in range(300):
        cid = fake.snowflake()
        fake.channels[cid] = {**template, "id": str(cid), "name": f"c{n}"}
        wanted.append(cid)
        await service.setup(Actor("discord", str(fake.guild_id), str(cid), "lead", "Lead", is_admin=True),
                            time="09:00", timezone="UTC", reveal_minutes=600)
    # Paced at the limit, as deployed (STUDYBOT_DISCORD_POSTS_PER_SECOND = the bot's limit): fixed windows
    # and jitter still bring the odd 429, and each one must be waited out.
    platform.publisher.pacer = Pacer(LIMITS.global_per_second)  # type: ignore[attr-defined]
    clock.advance(timedelta(hours=1, seconds=1))
    results = await Scheduler(service, {"discord": platform.publisher}).run_due()
    assert len(results) == 300 and all(message is not None for _, message in results)
    posts = Counter(int(m["channel_id"]) for m in fake.messages.values())
    assert {cid: posts[cid] for cid in wanted} == dict.fromkeys(wanted, 1)  # none lost, none twice
    assert fake.limiter is not None and fake.limiter.dishonoured == []  # every 429 was honoured
    runs = await service.db.fetchall("SELECT outcome, COUNT(*) FROM scheduled_runs GROUP BY outcome")
    assert [tuple(r) for r in runs] == [("posted", 300)]
    assert fake.problems() == []


async def test_a_burst_into_one_channel_waits_for_its_bucket(limited: tuple[
        FakeDiscord, StudyService, ManualClock, DiscordPlatform]) -> None:
    """Digests of many channels can share one digest channel: its own bucket (5 per window) paces them."""
    fake, service, _, platform = limited
    channel = (await service.scheduled_channels() or [None])[0]
    assert channel is None
    admin = Actor("discord", str(fake.guild_id), str(fake.channel_id), "lead", "Lead", is_admin=True)
    await service.setup(admin, time="09:00", timezone="UTC")
    [settings] = await service.scheduled_channels()
    sent = await asyncio.gather(*(platform.publisher.publish(settings, Message(body=f"digest {n}"))
                                  for n in range(14)))
    assert len(set(sent)) == 14 and len(fake.posts(fake.channel_id)) == 14
    assert fake.limiter is not None and fake.limiter.dishonoured == []


async def test_slack_channels_due_at_once_each_get_one_post_within_the_workspace_limits(
        tmp_path: Path) -> None:
    from adapters.slack.adapter import SlackPlatform
    from tests.fakes.slack_server import FakeSlack, SlackLimits

    fake = await FakeSlack(limits=SlackLimits(per_team_per_second=40)).start()
    db = await open_database(tmp_path / "slack-fanout.sqlite3")
    clock = ManualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
    service = StudyService(db, load_bank(FIXTURE_BANK), clock, rng=random.Random(5))
    await service.sync_bank()
    # Paced faster than the workspace allows, so Slack answers 429 and each one must be waited out.
    settings = Settings(database=tmp_path / "unused.sqlite3", slack_bot_token=fake.token, slack_signing_secret="s",
                        slack_mode="http", slack_port=0, slack_api_url=fake.api_url, slack_posts_per_second=60)
    platform = SlackPlatform(service, settings, host="127.0.0.1")
    await platform.start()
    try:
        wanted = [f"C{n:04d}" for n in range(120)]
        for channel in wanted:
            await service.setup(Actor("slack", fake.team, channel, "UADMIN", "Ada", is_admin=True),
                                time="09:00", timezone="UTC", reveal_minutes=600)
        clock.advance(timedelta(hours=1, seconds=1))
        results = await Scheduler(service, {"slack": platform.publisher}).run_due()
    finally:
        await platform.stop()
        await db.close()
        await fake.stop()
    assert len(results) == 120 and all(message is not None for _, message in results)
    posts = Counter(channel for channel, _ in fake.messages)
    assert {c: posts[c] for c in wanted} == dict.fromkeys(wanted, 1)  # none lost, none twice
    assert fake.limiter is not None and fake.limiter.sent_429 > 0 and fake.limiter.dishonoured == []



async def test_a_429_holds_every_sender_of_a_pacer_not_only_the_one_that_met_it() -> None:
    import time

    from adapters.runtime import Pacer, pacing, retry_paced

    pacer = Pacer(100.0)
    await pacer.wait()
    started = time.monotonic()

    async def queued() -> float:
        await pacer.wait()  # its slot was due 10 ms later
        return time.monotonic() - started

    waiting = asyncio.ensure_future(queued())
    await asyncio.sleep(0)
    with pacing(pacer):
        await retry_paced(0.2)  # a client library's 429 retry, with Retry-After 0.2
    assert await waiting >= 0.19  # the sender already queued waited out the hold as well
    unpaced = time.monotonic()
    await retry_paced(0.05)  # outside a pacer: the retry-after alone
    assert 0.04 <= time.monotonic() - unpaced < 0.5
