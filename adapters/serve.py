"""Serve one or more chat platforms from one process: one core, one scheduler, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta
from typing import Protocol

from bot.bank import load_bank
from bot.clock import SystemClock
from bot.config import Settings
from bot.schedule import Publisher, Scheduler
from bot.service import StudyService
from bot.storage import open_database
from bot.timer import Wakeups

log = logging.getLogger(__name__)


class Platform(Protocol):
    """What serve() needs from a platform adapter."""

    name: str
    publisher: Publisher

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop taking events and finish the interactions in flight."""
        ...


def build_platform(name: str, service: StudyService, settings: Settings) -> Platform:
    if name == "discord":
        from adapters.discord.adapter import DiscordPlatform

        discord_platform: Platform = DiscordPlatform(service, settings)
        return discord_platform
    if name == "slack":
        from adapters.slack.adapter import SlackPlatform

        slack_platform: Platform = SlackPlatform(service, settings)
        return slack_platform
    raise ValueError(f"unknown platform {name}")


async def serve(settings: Settings, platforms: list[str], stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    bank = load_bank(settings.questions)
    db = await open_database(settings.database)
    service = StudyService(db, bank, SystemClock(), default_timezone=settings.timezone)
    await service.sync_bank()
    running = [build_platform(name, service, settings) for name in platforms]
    scheduler = Scheduler(service, {p.name: p.publisher for p in running},
                          catchup=timedelta(hours=settings.catchup_hours))
    wakeups = Wakeups(scheduler)
    health = asyncio.create_task(_health(settings, stop)) if settings.health_file else None
    try:
        for platform in running:
            await platform.start()
        await wakeups.start()
        log.info("studybot serving %s with %d questions", ", ".join(platforms), len(bank))
        await stop.wait()
        log.info("shutting down: finishing interactions in flight")
    finally:
        await wakeups.stop()
        for platform in running:
            try:
                await platform.stop()
            except Exception:
                log.exception("stopping %s failed", platform.name)
        if health:
            health.cancel()
        await db.close()
    return 0


async def _health(settings: Settings, stop: asyncio.Event) -> None:
    """Touch the health file while the event loop is alive (Docker HEALTHCHECK and k8s probes read it)."""
    assert settings.health_file is not None
    while not stop.is_set():
        settings.health_file.parent.mkdir(parents=True, exist_ok=True)
        settings.health_file.touch()
        await asyncio.sleep(15)
