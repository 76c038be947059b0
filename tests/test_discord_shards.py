"""Discord shards across processes (issue #16 item 1), with the real discord.py against the fake Discord.

Guilds are placed on shards (`(guild_id >> 22) % count`); the fake sends each guild's GUILD_CREATE and
interactions only to the gateway connection that IDENTIFYed with its shard, refuses an IDENTIFY that breaks
`max_concurrency` (op 9, kept in `problems()`), and records the client TCP port of every connection and
request, which the two-process test maps to the process that owns it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from adapters.discord.adapter import DiscordPlatform
from adapters.discord.shards import IdentifyGate, ShardPlan, describe_ids, shard_plan
from bot.bank import Bank
from bot.clock import ManualClock
from bot.config import Settings, parse_shard_count, parse_shard_ids
from bot.errors import ConfigError
from bot.service import Actor, StudyService
from bot.storage import open_store
from tests import pgserver
from tests.conftest import FIXTURE_BANK, ROOT
from tests.fakes.discord_server import EPHEMERAL, TOKEN, FakeDiscord
from tests.test_discord import FAST, custom_ids, post_id_of, settings_for

ENV_PREFIXES = ("STUDYBOT_", "DISCORD_", "SLACK_")


# ----------------------------------------------------------------- settings
def test_shard_settings_are_parsed_and_checked() -> None:
    assert parse_shard_ids("0-3") == (0, 1, 2, 3)
    assert parse_shard_ids(" 4 , 0-1,1 ") == (0, 1, 4)
    for bad in ("", "a", "3-1", "-1", "0-", "1;2", "0-100000"):
        assert parse_shard_ids(bad) is None, bad
    assert parse_shard_count("8") == 8 and parse_shard_count(" AUTO ") == "auto"
    for bad in ("0", "-2", "eight", "1.5", ""):
        assert parse_shard_count(bad) is None, bad

    base = {"STUDYBOT_QUESTIONS": str(FIXTURE_BANK), "DISCORD_TOKEN": TOKEN}
    assert Settings.load(base).discord_sharding() == (None, None)
    assert shard_plan(Settings.load(base)) is None  # unset: one plain connection, as before

    def problems(**env: str) -> list[str]:
        return Settings.load({**base, **env}).problems(["discord"])

    assert problems(STUDYBOT_DISCORD_SHARDS="0-3", STUDYBOT_DISCORD_SHARD_COUNT="8") == []
    assert problems(STUDYBOT_DISCORD_SHARDS="0,2", STUDYBOT_DISCORD_SHARD_COUNT="auto") == []
    assert problems(STUDYBOT_DISCORD_SHARD_COUNT="4") == []  # every shard in this process
    assert problems(STUDYBOT_DISCORD_SHARDS="4-8", STUDYBOT_DISCORD_SHARD_COUNT="8") == [
        "STUDYBOT_DISCORD_SHARDS names shard 8, but with STUDYBOT_DISCORD_SHARD_COUNT=8 the shards are 0 to 7"]
    assert problems(STUDYBOT_DISCORD_SHARDS="0-3") == [
        "STUDYBOT_DISCORD_SHARDS needs STUDYBOT_DISCORD_SHARD_COUNT (the total number of shards, or auto)"]
    assert problems(STUDYBOT_DISCORD_SHARD_COUNT="0") == [
        "STUDYBOT_DISCORD_SHARD_COUNT must be a number of shards (1 or more, such as 8) or auto"]
    assert problems(STUDYBOT_DISCORD_SHARDS="0-3", STUDYBOT_DISCORD_SHARD_COUNT="many") == [
        "STUDYBOT_DISCORD_SHARD_COUNT must be a number of shards (1 or more, such as 8) or auto"]
    assert problems(STUDYBOT_DISCORD_SHARDS="first", STUDYBOT_DISCORD_SHARD_COUNT="2") == [
        "STUDYBOT_DISCORD_SHARDS must be shard ids such as 0-3 or 0,2 (this process's shards)"]

    assert shard_plan(Settings(discord_shards="2-3", discord_shard_count="4")) == ShardPlan((2, 3), 4)
    assert shard_plan(Settings(discord_shard_count="auto")) == ShardPlan(None, None)
    with pytest.raises(ConfigError, match="names shard 4"):
        shard_plan(Settings(discord_shards="4", discord_shard_count="4"))
    assert ShardPlan(None, None).resolve(3) == ([0, 1, 2], 3)
    with pytest.raises(ConfigError, match="Discord recommends 2 shard"):
        ShardPlan((0, 1, 2, 3), None).resolve(2)
    assert describe_ids([0, 1, 2, 3, 5, 7, 8]) == "0-3,5,7-8"


def test_studybot_run_with_bad_shard_settings_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), STUDYBOT_QUESTIONS=str(FIXTURE_BANK), DISCORD_TOKEN=TOKEN,
               STUDYBOT_DISCORD_SHARDS="0-8", STUDYBOT_DISCORD_SHARD_COUNT="8")
    proc = subprocess.run([sys.executable, "-m", "adapters.app", "run", "--platform", "discord"], check=False,
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["studybot: STUDYBOT_DISCORD_SHARDS names shard 8, but with STUDYBOT_DISCORD_SHARD_COUNT=8 the "
                     "shards are 0 to 7"]


# ----------------------------------------------------------------- identify gate
async def test_the_identify_gate_spaces_one_bucket_and_not_the_others() -> None:
    gate = IdentifyGate(None, max_concurrency=2, window=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    times: dict[int, float] = {}

    async def identify(shard: int) -> None:
        await gate.wait(shard)
        times[shard] = loop.time() - started

    await asyncio.gather(*(identify(s) for s in range(4)))
    assert times[0] < 0.1 and times[1] < 0.1  # two buckets at once
    assert times[2] >= 0.29 and times[3] >= 0.29  # the second of each bucket a window later


# ----------------------------------------------------------------- one process, several shards
@pytest.fixture
async def sharded_fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(recommended_shards=2, max_concurrency=2, identify_window=5.0)
    await server.start()
    yield server
    await server.close()


async def test_one_process_connects_its_shards_with_the_recommended_count(sharded_fake: FakeDiscord,
                                                                          service: StudyService) -> None:
    fake = sharded_fake
    spots = [fake.add_guild(f"Guild {shard}", shard=shard, count=2) for shard in (0, 1)]
    platform = DiscordPlatform(service, settings_for(fake, discord_shard_count="auto"), **FAST)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await platform.start()
    try:
        assert loop.time() - started < 4.5  # max_concurrency 2: no 5 s wait (discord.py alone would sleep 5 s)
        assert sorted((i.shard, i.count) for i in fake.identifies) == [(0, 2), (1, 2)]
        assert {s.shard for s in fake.sessions} == {(0, 2), (1, 2)}
        assert platform.client is not None and len(platform.client.guilds) == len(fake.guilds)
        for guild_id, channel_id in spots:
            interaction = await fake.slash("quiz", {"topic": "statistics"}, channel_id=channel_id)
            assert interaction.shard == (guild_id >> 22) % 2
            card = await fake.reply(interaction)
            assert card["guild_id"] == str(guild_id) and custom_ids(card)
    finally:
        await platform.stop()
    assert fake.problems() == []


async def test_auto_count_smaller_than_the_shards_named_fails_start(sharded_fake: FakeDiscord,
                                                                    service: StudyService) -> None:
    settings = settings_for(sharded_fake, discord_shards="0-3", discord_shard_count="auto")
    platform = DiscordPlatform(service, settings, **FAST)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="names shard 3, but Discord recommends 2 shard"):
        await platform.start()
    assert sharded_fake.identifies == []


# ----------------------------------------------------------------- two processes
def ports_of(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.laddr}


def owner(procs: dict[str, subprocess.Popen[bytes]], port: int | None) -> str:
    found = [name for name, proc in procs.items() if port is not None and port in ports_of(proc.pid)]
    assert len(found) == 1, f"port {port} belongs to {found}"
    return found[0]


@pytest.fixture
def pg_url(postgres: pgserver.Server) -> str:
    return postgres.new_database()


async def set_up_channels(url: str, bank: Bank, channels: list[tuple[int, int]], post_at: datetime) -> None:
    """Each channel posts daily at `post_at`'s minute (UTC), set up an hour before: due as soon as a scheduler
    runs."""
    db = await open_store(url)
    try:
        service = StudyService(db, bank, ManualClock(datetime.now(UTC) - timedelta(hours=1)),
                               rng=random.Random(3))
        await service.sync_bank()
        for guild_id, channel_id in channels:
            admin = Actor("discord", str(guild_id), str(channel_id), "1", "Admin", is_admin=True)
            await service.setup(admin, time=post_at.strftime("%H:%M"), timezone="UTC", days="daily")
    finally:
        await db.close()


async def test_two_processes_each_serve_their_shards_and_one_leader_posts_everywhere(
        pg_url: str, bank: Bank) -> None:
    fake = FakeDiscord(recommended_shards=4, max_concurrency=2, identify_window=5.0)
    await fake.start()
    count = 4
    guilds = [fake.add_guild(f"Guild {shard}", shard=shard, count=count) for shard in range(count)]
    channels = [*guilds, (fake.guild_id, fake.channel_id)]
    await set_up_channels(pg_url, bank, channels, datetime.now(UTC) - timedelta(minutes=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), STUDYBOT_QUESTIONS=str(FIXTURE_BANK), STUDYBOT_DATABASE=pg_url,
               STUDYBOT_PLATFORM="discord", DISCORD_TOKEN=TOKEN, STUDYBOT_DISCORD_API_BASE=fake.api_base,
               STUDYBOT_DISCORD_GATEWAY_URL=fake.gateway_url, STUDYBOT_TIMEZONE="UTC")
    halves = {"a": {"STUDYBOT_DISCORD_SHARDS": "0-1", "STUDYBOT_DISCORD_SHARD_COUNT": "4"},
              "b": {"STUDYBOT_DISCORD_SHARDS": "2,3", "STUDYBOT_DISCORD_SHARD_COUNT": "auto"}}
    procs = {name: subprocess.Popen([sys.executable, "-m", "adapters.app", "run"], cwd=ROOT,  # noqa: ASYNC220
                                    env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, extra in halves.items()}
    shard_owner = {0: "a", 1: "a", 2: "b", 3: "b"}
    try:
        # Both processes connect their own shards, each shard once, within the identify limit.
        await fake.wait_until(lambda: len(fake.sessions) == count
                              or any(p.poll() is not None for p in procs.values()), within=60)
        assert all(p.poll() is None for p in procs.values())
        assert sorted(s.shard for s in fake.sessions) == [(s, count) for s in range(count)]
        for session in fake.sessions:
            assert owner(procs, session.peer) == shard_owner[session.shard[0]]
        accepted = [i for i in fake.identifies if i.accepted]
        assert sorted(i.shard for i in accepted) == list(range(count))
        by_bucket: dict[int, list[float]] = {}
        for i in accepted:
            by_bucket.setdefault(i.shard % fake.max_concurrency, []).append(i.at)
        for times in by_bucket.values():
            assert all(b - a >= fake.identify_window for a, b in itertools.pairwise(times))
        assert len(by_bucket) == 2  # two shards at a time, the allowance Discord gave

        # The scheduler leader posts every channel's daily question over REST, whatever shard owns it.
        await fake.wait_until(lambda: all(fake.posts(c) for _, c in channels), within=60)
        await asyncio.sleep(1.0)  # room for a wrong second post
        assert [len(fake.posts(c)) for _, c in channels] == [1] * len(channels)
        posted = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")
                  and "/channels/" in r.path]
        assert len(posted) == len(channels) and {r.status for r in posted} == {200}
        posters = Counter(owner(procs, r.peer) for r in posted)
        assert len(posters) == 1  # one leader, for guilds on its shards and the other process's alike

        # Each guild's interactions go to the process owning its shard, which answers them.
        for guild_id, channel_id in channels:
            shard = (guild_id >> 22) % count
            [daily] = fake.posts(channel_id)
            assert daily["embeds"][0]["title"].startswith("Daily question")
            click = await fake.click(daily, f"sb:a:{post_id_of(daily)}:0", member=fake.member(f"M{guild_id % 97}"))
            reply = await fake.reply(click, within=15)
            assert reply["flags"] & EPHEMERAL
            assert click.shard == shard
            assert owner(procs, click.delivered_peer) == shard_owner[shard]
            assert owner(procs, click.answered_peer) == shard_owner[shard]
            quiz = await fake.slash("quiz", {"topic": "statistics"}, channel_id=channel_id)
            card = await fake.reply(quiz, within=15)
            assert card["guild_id"] == str(guild_id)
            assert owner(procs, quiz.answered_peer) == shard_owner[shard]
        assert fake.problems() == []
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        errors = {}
        for name, proc in procs.items():
            try:
                _, err = await asyncio.to_thread(proc.communicate, timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = await asyncio.to_thread(proc.communicate)
            errors[name] = (proc.returncode, err.decode(errors="replace")[-3000:])
        await fake.close()
    for name, (code, err) in errors.items():
        assert code == 0, f"process {name} ended with {code}:\n{err}"
