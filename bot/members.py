"""Members are created (or renamed) with group commit: the first burst of a new team's clicks costs one
write transaction for all its new members, not one each, so the answers behind them are not kept waiting
on a queue of single-row commits."""

from __future__ import annotations

from bot.batching import GroupCommit
from bot.ports.identities import IdentitiesPort
from bot.storage.port import Database, Row, Transaction, retrying

MAX_BATCH = 500


class MemberWriter:
    def __init__(self, db: Database, identities: IdentitiesPort) -> None:
        self.db = db  # transactions; every statement goes through `identities`
        self.identities = identities
        self._batches: GroupCommit[tuple[int, str, str], Row] = GroupCommit(self._write, MAX_BATCH)

    async def upsert(self, community: int, user: str, name: str) -> Row:
        """The member's row (id, streak, best_streak, last_daily_post), created or renamed to `name`."""
        return await self._batches.submit((community, user, name))

    async def _write(self, items: list[tuple[int, str, str]]) -> list[Row]:
        names = {(c, u): name for c, u, name in items}  # one row per member; the latest name wins
        # In key order: replicas upserting the same members lock them in the same order and cannot deadlock.
        ordered = sorted(names.items())

        async def write(tx: Transaction) -> dict[tuple[int, str], Row]:
            rows: dict[tuple[int, str], Row] = {}
            await self.identities.upsert_members(tx, [(c, u, name) for (c, u), name in ordered])
            for community in sorted({c for c, _ in names}):
                users = [u for c, u in names if c == community]
                for row in await self.identities.member_rows(tx, community, users):
                    rows[(community, row[0])] = row
            return rows

        rows = await retrying(self.db, write)
        return [rows[(c, u)] for c, u, _ in items]
