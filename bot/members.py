"""Members are created (or renamed) with group commit: the first burst of a new team's clicks costs one
write transaction for all its new members, not one each, so the answers behind them are not kept waiting
on a queue of single-row commits."""

from __future__ import annotations

import asyncio

from bot.storage.db import Database, Row

MAX_BATCH = 500
UPSERT = ("INSERT INTO members (community_id, external_id, display_name) VALUES (?, ?, ?) "
          "ON CONFLICT (community_id, external_id) DO UPDATE SET display_name = excluded.display_name")


class MemberWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: dict[tuple[int, str], tuple[str, list[asyncio.Future[Row]]]] = {}
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def upsert(self, community: int, user: str, name: str) -> Row:
        """The member's row (id, streak, best_streak, last_daily_post), created or renamed to `name`."""
        future: asyncio.Future[Row] = asyncio.get_running_loop().create_future()
        waiting = self._queue.setdefault((community, user), (name, []))[1]
        waiting.append(future)
        self._queue[(community, user)] = (name, waiting)  # the latest name wins
        if not self._draining:
            self._draining = True
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                keys = list(self._queue)[:MAX_BATCH]
                batch = {key: self._queue.pop(key) for key in keys}
                try:
                    rows = await self._write(batch)
                except BaseException as exc:
                    for _, waiting in batch.values():
                        for future in waiting:
                            if not future.done():
                                future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for key, (_, waiting) in batch.items():
                    for future in waiting:
                        if not future.done():
                            future.set_result(rows[key])
        finally:
            self._draining = False

    async def _write(self, batch: dict[tuple[int, str], tuple[str, list[asyncio.Future[Row]]]]
                     ) -> dict[tuple[int, str], Row]:
        rows: dict[tuple[int, str], Row] = {}
        async with self.db.transaction() as tx:
            await tx.executemany(UPSERT, [(c, u, name) for (c, u), (name, _) in batch.items()])
            for community in {c for c, _ in batch}:
                users = [u for c, u in batch if c == community]
                cur = await tx.execute(
                    "SELECT external_id, id, streak, best_streak, last_daily_post FROM members WHERE community_id = ? "
                    f"AND external_id IN ({', '.join('?' * len(users))})", (community, *users))
                for row in await cur.fetchall():
                    rows[(community, row[0])] = row
        return rows
