"""Discord under a burst: N concurrent button clicks on one daily post, through the fake Discord.

    .venv/bin/python bench/discord_bench.py [--clicks 500] [--fake thread|loop] [--defer-after 2.0]

The real DiscordPlatform (discord.py, the shipped bank, a fresh SQLite file) connects to the fake Discord
of the tests. By default the bot runs in a process of its own, as it does against the real Discord; with
`--fake thread` the fake runs in a thread of the bot's process (sharing its interpreter lock), with
`--fake loop` in the bot's own event loop: both are pessimistic setups, kept for comparison.
The scheduler posts a daily question through the adapter's publisher; then the fake
sends one INTERACTION_CREATE per member, all at once, each pressing one of the answer buttons. Reported,
from the moment the fake wrote the interaction to the gateway socket:
- to its first response (`POST /interactions/{id}/{token}/callback` received by the fake): p50 / p99 / max
  and how many came within Discord's 3 s;
- to the reply the member reads (the response, or the follow-up after a deferral);
- how many card edits the burst cost (they are coalesced) and the count the public card ends with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.discord.adapter import DEFER_AFTER, DiscordPlatform  # noqa: E402
from bot.actions import AnswerChoice, decode  # noqa: E402
from bot.bank import load_bank  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.schedule import Scheduler  # noqa: E402
from bot.service import Actor, StudyService  # noqa: E402
from bot.storage import open_database  # noqa: E402
from tests.fakes.discord_server import TOKEN, FakeDiscord, Interaction  # noqa: E402

T = TypeVar("T")
LIMIT = 3.0


class FakeThread:
    """The fake Discord on its own event loop in a thread (or on the caller's loop)."""

    def __init__(self, same_loop: bool) -> None:
        self.fake = FakeDiscord(response_deadline=None)
        self.same_loop = same_loop
        self.loop: asyncio.AbstractEventLoop | None = None
        if not same_loop:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, name="fake-discord", daemon=True)
            self.thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop is None:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def start_bot(api_base: str, gateway_url: str, guild: int, channel: int,
                    defer_after: float) -> tuple[DiscordPlatform, StudyService, Path]:
    """The bot side: a fresh database, the service, the platform connected, today's daily question posted."""
    tmp = Path(tempfile.mkdtemp(prefix="studybot-discord-bench-"))
    db = await open_database(tmp / "bench.sqlite3")
    clock = ManualClock(datetime(2026, 11, 18, 8, 55, tzinfo=UTC))  # a Wednesday
    service = StudyService(db, load_bank(ROOT / "questions"), clock, rng=random.Random(1))
    await service.sync_bank()
    admin = Actor("discord", str(guild), str(channel), "1", "Admin", is_admin=True)
    await service.setup(admin, time="09:00", timezone="UTC", days="daily")
    settings = Settings(discord_token=TOKEN, discord_api_base=api_base, discord_gateway_url=gateway_url,
                        database=tmp / "bench.sqlite3")
    platform = DiscordPlatform(service, settings, guild_ready_timeout=0.1, defer_after=defer_after)
    await platform.start()
    clock.advance(timedelta(minutes=5))
    await Scheduler(service, {"discord": platform.publisher}).run_due()
    return platform, service, tmp


async def bot_results(platform: DiscordPlatform, service: StudyService) -> dict[str, int]:
    await platform.settled()
    row = await service.db.fetchone("SELECT answered FROM posts WHERE kind = 'daily'")
    return {"answered": row[0] if row else 0, "card_edits": platform.cards.refreshes}


async def serve_bot(args: argparse.Namespace) -> None:
    """The child process: start the bot, say ready, wait for the parent's "done", report, stop."""
    platform, service, _ = await start_bot(args.api_base, args.gateway_url, args.guild, args.channel,
                                           args.defer_after)
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    print(json.dumps(await bot_results(platform, service)), flush=True)
    await platform.stop()
    await service.db.close()


async def burst(fake: FakeDiscord, clicks: int) -> list[Interaction]:
    [post] = fake.posts()
    buttons = [c["custom_id"] for row in post["components"] for c in row["components"]
               if isinstance(decode(c["custom_id"]), AnswerChoice)]
    rng = random.Random(2)
    records = [fake.click_payload(post, rng.choice(buttons), member=fake.member(f"member{i}"))
               for i in range(clicks)]
    for record in records:  # one gateway connection delivers them one after another, as fast as it can
        await fake.send_interaction(record)
    await fake.wait_until(lambda: all(r.reply is not None for r in records), within=120)
    return records


async def main(clicks: int, mode: str, defer_after: float) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    host = FakeThread(same_loop=mode != "thread")
    fake = host.fake
    await host.run(fake.start())
    child = platform = service = None
    try:
        if mode == "process":
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--bot", "--api-base", fake.api_base, "--gateway-url", fake.gateway_url,
                "--guild", str(fake.guild_id), "--channel", str(fake.channel_id), "--defer-after", str(defer_after),
                cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert child.stdout is not None
            assert child.stdin is not None
            if (await asyncio.wait_for(child.stdout.readline(), 120)).strip() != b"ready":
                raise SystemExit(f"the bot process failed to start (exit {await child.wait()})")
        else:
            platform, service, _ = await start_bot(fake.api_base, fake.gateway_url, fake.guild_id, fake.channel_id,
                                                   defer_after)
        started = time.perf_counter()
        records = await host.run(burst(fake, clicks))
        if child is not None:
            assert child.stdin is not None
            assert child.stdout is not None
            child.stdin.write(b"done\n")
            await child.stdin.drain()
            results = json.loads(await asyncio.wait_for(child.stdout.readline(), 120))
            await asyncio.wait_for(child.wait(), 60)
        else:
            assert platform is not None
            assert service is not None
            results = await bot_results(platform, service)
        elapsed = time.perf_counter() - started

        ack = [r.answered_at - r.sent_at for r in records if r.answered_at is not None]
        shown = [r.replied_at - r.sent_at for r in records if r.replied_at is not None]
        deferred = sum(1 for r in records if r.response and r.response["type"] == 5)
        correct = sum(1 for r in records if (r.reply or {}).get("content", "").startswith("✅"))
        [post] = fake.posts()
        final = (post["embeds"][0].get("footer") or {}).get("text", "")
        where = {"process": "its own process", "thread": "a thread of the bot's process",
                 "loop": "the bot's event loop"}[mode]
        print(f"{clicks} concurrent clicks on one daily post (the bot in {where if mode == 'process' else 'the '}"
              f"{'' if mode == 'process' else 'same process, the fake Discord in ' + where})")
        print(f"  dispatch -> interaction callback   p50 {ms(statistics.median(ack))}   p99 {ms(pct(ack, 0.99))}"
              f"   max {ms(max(ack))}   (target: p99 <= 250 ms)")
        within = sum(1 for a in ack if a <= LIMIT)
        print(f"  acknowledged within {LIMIT:.0f} s          {within}/{clicks}  (deferred first: {deferred})")
        print(f"  dispatch -> reply shown            p50 {ms(statistics.median(shown))}   p99 "
              f"{ms(pct(shown, 0.99))}   max {ms(max(shown))}")
        print(f"  burst handled in                   {elapsed:.2f} s  ({clicks / elapsed:.0f} clicks/s)")
        print(f"  answers recorded                   {results['answered']}  (correct: {correct})")
        print(f"  card edits                         {results['card_edits']}  (final: {final!r})")
        problems = await host.run(_problems(fake))
        if problems:
            print(f"  problems seen by the fake: {problems[:5]}")
        return 0 if within == clicks and not problems and len(ack) == clicks else 1
    finally:
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
            await child.wait()
        if platform is not None and service is not None:
            await platform.stop()
            await service.db.close()
        await host.run(fake.close())
        host.stop()


async def _problems(fake: FakeDiscord) -> list[str]:
    return fake.problems()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clicks", type=int, default=500)
    parser.add_argument("--fake", choices=["process", "thread", "loop"], default="process",
                        help="process: the bot in its own process (default); thread / loop: the fake Discord in a "
                             "thread of the bot's process / in the bot's event loop")
    parser.add_argument("--defer-after", type=float, default=DEFER_AFTER,
                        help="seconds before a slow interaction is acknowledged first (the adapter's default)")
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--api-base", "--gateway-url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--guild", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--channel", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot:
        asyncio.run(serve_bot(args))
        raise SystemExit(0)
    raise SystemExit(asyncio.run(main(args.clicks, args.fake, args.defer_after)))
