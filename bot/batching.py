"""Group commit and bounded caches for the write path.

Group commit: callers that arrive while a batch is being written wait for the next one, and each gets
its own result once the batch that holds its item has committed."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")


class GroupCommit(Generic[I, R]):
    def __init__(self, process: Callable[[list[I]], Awaitable[list[R]]], max_batch: int) -> None:
        """`process` writes a batch in one transaction and returns one result per item, in order."""
        self._process = process
        self._max_batch = max_batch
        self._queue: list[tuple[I, asyncio.Future[R]]] = []
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if not self._draining:
            self._draining = True
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                try:
                    results = await self._process([item for item, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
        finally:
            self._draining = False


class Lru(OrderedDict[K, V]):
    """A dict that forgets its least recently stored or touched keys beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)

    def touch(self, keys: Iterable[K]) -> None:
        for key in keys:
            if key in self:
                self.move_to_end(key)
