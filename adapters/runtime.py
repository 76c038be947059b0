"""What every chat adapter needs around the core's pipeline, written once: tracking the interactions in
flight so shutdown lets them finish, and refreshing public cards after answers without one platform call
per answer."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")


class InFlight:
    """The tasks handling interactions right now."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as in flight while the block runs."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        self._idle.clear()
        try:
            yield
        finally:
            self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def tasks(self) -> set[asyncio.Task[object]]:
        return set(self._tasks)

    async def idle(self) -> None:
        await self._idle.wait()

    async def drain(self, grace: float) -> bool:
        """Wait up to `grace` seconds for every interaction to finish; True when none is left."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True


async def acknowledged_in_time(job: Awaitable[T], after: float,
                                acknowledge: Callable[[], Awaitable[None]] | None) -> T:
    """Await `job`; when it has not finished after `after` seconds, call `acknowledge` first (the
    platform's "working on it", before its deadline) and go on waiting. If acknowledging fails, the job
    still runs to its end (its work was committed to) and the failure is raised."""
    task = asyncio.ensure_future(job)
    try:
        done, _ = await asyncio.wait({task}, timeout=after)
        if not done and acknowledge is not None:
            await acknowledge()
        return await task
    finally:
        if not task.done():
            task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("work of an interaction failed after its acknowledgement failed", exc_info=task.exception())


class CardRefresher(Generic[K, T]):
    """Refresh the public card shown at `key` after answers, coalesced: one refresh in flight per card;
    what arrives meanwhile is folded into the next refresh (the latest `item` wins), and two refreshes of
    one card are at least `interval` seconds apart. `refresh` reads the current count itself, so a card
    never goes back to a lower count when answers finish out of order; it returns False when the card is
    gone for good (deleted, no access), which drops what was pending for it."""

    def __init__(self, refresh: Callable[[K, T], Awaitable[bool]], *, interval: float = 0.0,
                 name: str = "card") -> None:
        self._refresh = refresh
        self.interval = interval
        self._name = name
        self._pending: dict[K, T] = {}
        self._workers: dict[K, asyncio.Task[None]] = {}
        self._last: dict[K, float] = {}
        self.refreshes = 0

    def submit(self, key: K, item: T) -> None:
        self._pending[key] = item
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"studybot-{self._name}-refresh")

    async def _work(self, key: K) -> None:
        try:
            while key in self._pending:
                wait = self._last.get(key, 0.0) + self.interval - time.monotonic()
                if wait > 0:  # answers arriving meanwhile are shown by this one refresh
                    await asyncio.sleep(wait)
                item = self._pending.pop(key)
                self._last[key] = time.monotonic()
                self.refreshes += 1
                if not await self._refresh(key, item):
                    self._pending.pop(key, None)
                    return
        except Exception:
            log.exception("refreshing the %s at %s failed", self._name, key)
        finally:
            self._workers.pop(key, None)
            self._forget_old()

    def _forget_old(self) -> None:
        if len(self._last) > 1000:
            horizon = time.monotonic() - self.interval
            self._last = {k: t for k, t in self._last.items() if t > horizon or k in self._workers}

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        return set(self._workers.values())

    async def drain(self) -> None:
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)


class Pacer:
    """Spaces requests evenly at `rate` per second, shared by every task that sends: a fan-out of thousands
    of posts goes out as fast as the platform's published limit allows, and no faster, instead of bursting
    into 429s. When the platform answers 429 anyway, `hold` stops every sender, not only the one that met
    it, until the retry-after has passed: requests sent inside that window would only be refused again."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._held_until = 0.0

    def hold(self, seconds: float) -> None:
        self._held_until = max(self._held_until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            slot = max(now, self._next, self._held_until)
            self._next = slot + self.interval
            if slot <= now:
                return
            await asyncio.sleep(slot - now)
            if time.monotonic() >= self._held_until:
                return
            # A 429 arrived while this sender waited for its slot: queue again behind the hold.


_pacing: contextvars.ContextVar[Pacer | None] = contextvars.ContextVar("pacing", default=None)


@contextlib.contextmanager
def pacing(pacer: Pacer) -> Iterator[None]:
    """Within the block, a client library's own 429 retries (see `retry_paced`) go through `pacer`."""
    token = _pacing.set(pacer)
    try:
        yield
    finally:
        _pacing.reset(token)


async def retry_paced(seconds: float) -> None:
    """Wait before retrying a request the platform refused with 429 and this retry-after: through the
    current task's pacer when it has one (holding every sender), else for the retry-after alone."""
    pacer = _pacing.get()
    if pacer is None:
        await asyncio.sleep(seconds)
        return
    pacer.hold(seconds)
    await pacer.wait()
