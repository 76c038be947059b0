"""Serve one or more chat platforms from one process: one core, one scheduler, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, Protocol

from bot import healthfile
from bot.bank import Bank, load_bank
from bot.clock import SystemClock
from bot.config import Settings
from bot.judge import grader_for
from bot.schedule import Publisher, Scheduler
from bot.service import StudyService
from bot.storage import open_store
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
    from adapters import registry

    return registry.build(name, service, settings)


HEARTBEAT = 15.0  # seconds between touches of the health file; `studybot health` allows a few missed ones


async def serve(settings: Settings, platforms: list[str], stop: asyncio.Event | None = None,
                bank: Bank | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop`), then: stop the scheduler (letting a running job finish), stop
    each platform (which finishes the interactions in flight), and close the database. Everything a member
    was told has been committed, so nothing acknowledged is lost."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("received %s: shutting down", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
            handled.append(sig)
    try:
        return await _serve(settings, platforms, stop, bank or load_bank(settings.questions))
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def _serve(settings: Settings, platforms: list[str], stop: asyncio.Event, bank: Bank) -> int:
    grace = settings.shutdown_grace
    healthfile.remove(settings.health_file)  # a file left by a previous run must not pass for this one
    db = await open_store(settings.store)
    started: list[Platform] = []
    service: StudyService | None = None
    wakeups: Wakeups | None = None
    health: asyncio.Task[None] | None = None
    try:
        service = StudyService(db, bank, SystemClock(), default_timezone=settings.timezone,
                               grader=grader_for(settings))
        await service.sync_bank()
        running = [build_platform(name, service, settings) for name in platforms]
        scheduler = Scheduler(service, {p.name: p.publisher for p in running},
                              catchup=timedelta(hours=settings.catchup_hours))
        wakeups = Wakeups(scheduler)
        for platform in running:
            started.append(platform)
            if not await _unless_stopped(platform.start(), stop):
                break
        if not stop.is_set():
            await wakeups.start()
            if settings.health_file:
                health = asyncio.create_task(_health(settings, stop))
            log.info("studybot serving %s with %d questions", ", ".join(platforms), len(bank))
        await stop.wait()
        log.info("shutting down: finishing interactions in flight")
    finally:
        if health:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
        healthfile.remove(settings.health_file)
        if wakeups is not None:
            try:
                await wakeups.stop(grace)
            except Exception:
                log.exception("stopping the scheduler failed")
        for platform in reversed(started):
            try:
                await asyncio.wait_for(platform.stop(), grace)
            except TimeoutError:
                log.warning("%s still had interactions in flight after %.0fs; closing anyway", platform.name, grace)
            except Exception:
                log.exception("stopping %s failed", platform.name)
        if service is not None:
            await service.grader.close()
        await db.close()
        log.info("stopped: database closed")
    return 0


async def _unless_stopped(starting: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `starting` unless a stop comes first (a platform that cannot connect must not block SIGTERM)."""
    task = asyncio.ensure_future(starting)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()
    return True


async def _health(settings: Settings, stop: asyncio.Event) -> None:
    """Touch the health file while the event loop is alive (Docker HEALTHCHECK and k8s probes read it
    through `studybot health`). It is first touched once every platform has started, and removed on stop."""
    assert settings.health_file is not None
    while not stop.is_set():
        try:
            if not healthfile.beat(settings.health_file):
                log.error("the health file %s was replaced by another file: heartbeats stop (the bot never "
                          "overwrites a file that is not its own)", settings.health_file)
                return
        except OSError as exc:
            log.warning("cannot write the health file %s: %s", settings.health_file, exc.strerror or exc)
        await asyncio.sleep(HEARTBEAT)
