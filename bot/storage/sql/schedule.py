"""SQL for scheduled runs (claims) and the scheduler lease (portable: see bot/storage/port.py).

Exactly-once rests on these statements: a claim is one row per (channel, kind, local date), taken by an
INSERT that only a stale `running` row lets through again; the lease is one row a second holder cannot take
while it is fresh. The scheduler's reads of daily posts live here too: they are what it decides from."""

from __future__ import annotations

from bot.storage.port import Database

RunKey = tuple[int, str, str]  # (channel id, kind, local date)


class ScheduleRuns:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- the lease
    async def acquire_lease(self, name: str, holder: str, until: str, now: str) -> bool:
        """Take or renew `name` until `until`: only its holder, or anyone once it expired before `now`."""
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
                (name, holder, until, now))
            return bool(cur.rowcount)

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up, if `holder` still holds it, so a standby takes over at once."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # ----------------------------------------------------------------- claims
    async def settled_since(self, since: str, stale_before: str) -> set[RunKey]:
        """Runs from `since` on that need no doing: all but those left `running` before `stale_before`
        (their leader died mid-run), which are due again."""
        rows = await self.db.fetchall(
            "SELECT channel_id, kind, local_date FROM scheduled_runs WHERE local_date >= ? "
            "AND NOT (outcome = 'running' AND done_at < ?)", (since, stale_before))
        return {(r[0], r[1], r[2]) for r in rows}

    async def claim(self, key: RunKey, due_at: str, now: str, outcome: str, stale_before: str) -> bool:
        """Record the run as `outcome`; False when it exists already, unless it is a stale `running` claim,
        which is taken over. Whoever gets True is the only one to do the job."""
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "INSERT INTO scheduled_runs (channel_id, kind, local_date, due_at, done_at, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id, kind, local_date) DO UPDATE "
                "SET done_at = excluded.done_at, outcome = excluded.outcome "
                "WHERE scheduled_runs.outcome = 'running' AND scheduled_runs.done_at < ?",
                (*key, due_at, now, outcome, stale_before))
            return bool(cur.rowcount)

    async def finish(self, key: RunKey, outcome: str, post_id: int | None, now: str) -> None:
        """Close a claimed run with what came of it."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE scheduled_runs SET outcome = ?, post_id = ?, done_at = ? WHERE channel_id = ? AND kind = ? "
                "AND local_date = ?", (outcome, post_id, now, *key))

    # ----------------------------------------------------------------- daily posts
    async def daily_reveals_since(self, since: str) -> dict[tuple[int, str], bool]:
        """(channel id, local date) -> revealed?, for the daily posts from `since` on."""
        rows = await self.db.fetchall(
            "SELECT channel_id, local_date, revealed_at FROM posts WHERE kind = 'daily' AND local_date >= ?",
            (since,))
        return {(r[0], r[1]): r[2] is not None for r in rows}

    async def existing_daily(self, channel_id: int, local_date: str) -> tuple[int, str | None] | None:
        """The day's daily post as (id, message ref): a ref means it was published already."""
        row = await self.db.fetchone("SELECT id, message_ref FROM posts WHERE channel_id = ? AND kind = 'daily' "
                                     "AND local_date = ?", (channel_id, local_date))
        return None if row is None else (int(row["id"]), row["message_ref"])

    async def daily_post_id(self, channel_id: int, local_date: str) -> int | None:
        """The day's daily post, to reveal."""
        row = await self.db.fetchone("SELECT id, posted_at FROM posts WHERE channel_id = ? AND kind = 'daily' "
                                     "AND local_date = ?", (channel_id, local_date))
        return None if row is None else int(row["id"])

    async def daily_question_counts(self, channel_id: int) -> dict[str, int]:
        """How often each question was the channel's daily one, so none repeats before the pool is used up."""
        rows = await self.db.fetchall(
            "SELECT question_id, COUNT(*) FROM posts WHERE channel_id = ? AND kind = 'daily' GROUP BY question_id",
            (channel_id,))
        return {r[0]: r[1] for r in rows}

    async def mark_daily_revealed(self, channel_id: int, local_date: str, now: str) -> list[int]:
        """Reveal the day's daily post unless it already was; the ids revealed now (answers stop counting)."""
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE posts SET revealed_at = ? WHERE channel_id = ? AND kind = 'daily' AND local_date = ? "
                "AND revealed_at IS NULL RETURNING id",
                (now, channel_id, local_date))
            return [row[0] for row in await cur.fetchall()]
