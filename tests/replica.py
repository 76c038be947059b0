"""One bot replica as its own process, for the replica tests: the real StudyService on a shared database.

    python -m tests.replica URL BANK answers    reads JSON clicks on stdin, one per line, handles them
                                               concurrently and prints one JSON acknowledgement per line
                                               once the service has answered (committed, as a platform's
                                               reply would be sent)
    python -m tests.replica URL BANK schedule T0 SPEED EPOCH
                                               runs the scheduler on a clock that reads T0 (ISO) at the
                                               wall-clock time EPOCH and goes SPEED times faster; prints
                                               each post it publishes and each change of leadership
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from bot.bank import load_bank
from bot.clock import Clock, SystemClock
from bot.messages import Message
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.storage import open_store

LEASE = timedelta(minutes=10)  # simulated: with SPEED 600, one real second


class FastClock:
    """Simulated time shared by every replica of a test: `start` at wall-clock `epoch`, `speed` times faster."""

    def __init__(self, start: datetime, speed: float, epoch: float) -> None:
        self.start, self.speed, self.epoch = start, speed, epoch

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)


class PrintingPublisher:
    supports_images = False

    async def publish(self, channel: object, message: Message, to: str | None = None) -> str:
        emit({"posted": getattr(channel, "id", None), "card": bool(message.buttons)})
        return "ref"


def emit(item: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(item) + "\n")
    sys.stdout.flush()


async def answers(service: StudyService) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    async def click(item: dict[str, object]) -> None:
        actor = Actor("test", "team", str(item.get("channel", "general")), str(item["user"]), str(item["user"]))
        try:
            result = await service.answer_choice(actor, int(str(item["post"])), int(str(item["shown"])))
        except Exception as exc:  # the test sees it as a line instead of waiting for an ack that never comes
            emit({"user": item["user"], "post": item["post"], "error": repr(exc)})
            return
        emit({"user": item["user"], "post": item["post"], "recorded": result.recorded})

    emit({"ready": True})
    while line := await reader.readline():
        task = asyncio.create_task(click(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def schedule(service: StudyService, clock: FastClock) -> None:
    scheduler = Scheduler(service, {"test": PrintingPublisher()}, catchup=timedelta(hours=6))
    holding = False
    while True:
        now_holding = await scheduler.acquire_lease(ttl=LEASE)
        if now_holding != holding:
            emit({"leader": now_holding, "at": clock.now().isoformat()})
            holding = now_holding
        if holding:
            await scheduler.run_due()
        await asyncio.sleep(0.05)


async def main(url: str, bank_path: str, mode: str, *rest: str) -> None:
    clock: Clock = (FastClock(datetime.fromisoformat(rest[0]), float(rest[1]), float(rest[2])) if mode == "schedule"
                    else SystemClock())
    db = await open_store(url)
    try:
        service = StudyService(db, load_bank(Path(bank_path)), clock)
        await service.sync_bank()
        if mode == "answers":
            await answers(service)
        else:
            assert isinstance(clock, FastClock)
            await schedule(service, clock)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
