"""State every use case shares: the database, the bank, the clock, identities, channel settings and posts."""

from __future__ import annotations

import json
import random
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot import views
from bot.answers import AnswerRecorder
from bot.bank.model import Bank, Question
from bot.batching import Lru
from bot.clock import Clock
from bot.community import CommunityBanks
from bot.domain import (
    Actor,
    ChannelSettings,
    PostRecord,
    iso,
    settings_from_row,
)
from bot.errors import UnknownPost
from bot.judge import Grader
from bot.members import MemberWriter
from bot.messages import Message, Visibility
from bot.ports import Storage
from bot.storage.port import Database
from bot.storage.sql import SqlStorage

MEMBERS_KEPT = 50_000
POSTS_KEPT = 5_000
# On a shared backend another replica may reveal a post or change a channel's settings: what this one caches
# of either is dropped at least this often (ids of communities, channels and members never change).
SHARED_CACHE_SECONDS = 2.0


class ServiceBase:
    def __init__(self, db: Database, bank: Bank, clock: Clock, *, default_timezone: str = "UTC",
                 rng: random.Random | None = None, grader: Grader | None = None) -> None:
        self.db = db
        self.store: Storage = SqlStorage(db)  # every read and write goes through these ports
        self.bank = bank
        self.clock = clock
        self.default_timezone = default_timezone
        self.rng = rng or random.Random()
        self._communities: dict[tuple[str, str], int] = {}
        self._channels: dict[tuple[int, str], int] = {}
        # Bounded: a bot that runs for months must not keep every member and post it ever saw.
        self._members: Lru[tuple[int, str], tuple[int, str]] = Lru(MEMBERS_KEPT)
        self._posts: Lru[int, PostRecord] = Lru(POSTS_KEPT)
        self._settings: dict[int, ChannelSettings] = {}
        self._cached_since = time.monotonic()
        self.recorder = AnswerRecorder(db)
        self.member_writer = MemberWriter(db)
        self.grader = grader or Grader()  # written answers: offline, or the LLM judge (bot/judge.py)
        self.banks = CommunityBanks(db, bank)

    async def bank_for(self, community_id: int) -> Bank:
        """The questions a community sees: the shipped bank and its own published questions."""
        return await self.banks.bank(community_id)

    async def pool_bank(self, settings: ChannelSettings) -> Bank:
        """The questions a channel draws its daily question and /quiz from, by its pool setting."""
        return await self.banks.pool(settings.community_id, settings.pool)

    async def actor_bank(self, actor: Actor) -> Bank:
        return await self.bank_for(await self.community_id(actor.platform, actor.community, actor.community_name))

    # ----------------------------------------------------------------- start-up
    async def sync_bank(self) -> None:
        """Mirror the bank into the questions table by id and content hash; removed ones go inactive."""
        now = iso(self.clock.now())
        rows = [(q.id, q.topic, q.difficulty, q.content_hash, now, now) for q in self.bank.questions.values()]
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE questions SET active = 0 WHERE id NOT IN (SELECT id FROM community_questions "
                             "WHERE status = 'published')")  # communities' own questions are not the bank's
            await tx.executemany(
                "INSERT INTO questions (id, topic, difficulty, content_hash, active, added_at, updated_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, "
                "difficulty = excluded.difficulty, active = 1, content_hash = excluded.content_hash, "
                "updated_at = CASE WHEN questions.content_hash != excluded.content_hash THEN excluded.updated_at "
                "ELSE questions.updated_at END",
                rows,
            )
            # A merged entry takes over the review cards of the entries it absorbed (its aliases), so spaced
            # repetition carries on; where a member already has a card for it, that card stays the live one.
            # Attempts keep the id they were made under: they are history.
            merged = list(self.bank.aliases.items())
            # A member who has cards for both keeps the survivor's; the alias's is dropped below.
            await tx.executemany("UPDATE reviews SET question_id = ? WHERE question_id = ? AND NOT EXISTS "
                                 "(SELECT 1 FROM reviews AS r WHERE r.member_id = reviews.member_id "
                                 "AND r.question_id = ?)", [(survivor, alias, survivor) for alias, survivor in merged])
            await tx.executemany("DELETE FROM reviews WHERE question_id = ?", [(alias,) for alias, _ in merged])

    # ----------------------------------------------------------------- identities
    async def community_id(self, platform: str, external: str, name: str = "") -> int:
        key = (platform, external)
        if key not in self._communities:
            self._communities[key] = await self._upsert_id(
                "INSERT INTO communities (platform, external_id, name, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (platform, external_id) DO UPDATE SET name = excluded.name RETURNING id",
                (platform, external, name, iso(self.clock.now())))
        return self._communities[key]

    async def _upsert_id(self, sql: str, params: tuple[object, ...]) -> int:
        async with self.db.transaction() as tx:
            cur = await tx.execute(sql, params)
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def channel_id(self, actor: Actor, external: str | None = None) -> int:
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        external = external or actor.channel
        key = (community, external)
        if key not in self._channels:
            self._channels[key] = await self._upsert_id(
                "INSERT INTO channels (community_id, external_id, name, timezone) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (community_id, external_id) DO UPDATE SET name = channels.name RETURNING id",
                (community, external, actor.channel_name if external == actor.channel else "",
                 self.default_timezone))
        return self._channels[key]

    async def member_id(self, actor: Actor) -> int:
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        key = (community, actor.user)
        name = actor.name or actor.user
        cached = self._members.get(key)
        if cached is None or cached[1] != name:
            row = await self.member_writer.upsert(community, actor.user, name)
            self._members[key] = (int(row["id"]), name)
            self.recorder.prime_member(int(row["id"]), row["streak"], row["best_streak"], row["last_daily_post"])
        return self._members[key][0]

    def _expire_shared(self) -> None:
        if not self.db.single_writer and time.monotonic() - self._cached_since > SHARED_CACHE_SECONDS:
            self._posts.clear()
            self._settings.clear()
            self._cached_since = time.monotonic()

    async def channel_settings(self, channel_id: int) -> ChannelSettings:
        self._expire_shared()
        cached = self._settings.get(channel_id)
        if cached is not None:
            return cached
        row = await self.db.fetchone(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.id = ?", (channel_id,))
        if row is None:
            raise UnknownPost()
        self._settings[channel_id] = found = settings_from_row(row)
        return found

    async def scheduled_channels(self) -> list[ChannelSettings]:
        rows = await self.db.fetchall(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.enabled = 1 ORDER BY ch.id")
        return [settings_from_row(r) for r in rows]

    # ----------------------------------------------------------------- posts
    async def _post(self, post_id: int) -> PostRecord:
        self._expire_shared()
        post = self._posts.get(post_id)
        if post is None:
            row = await self.db.fetchone(
                "SELECT p.*, ch.community_id FROM posts p JOIN channels ch ON ch.id = p.channel_id WHERE p.id = ?",
                (post_id,))
            # A merged entry answers for the ids it absorbed (its aliases), so old posts keep working.
            bank = await self.bank_for(row["community_id"]) if row is not None else self.bank
            question = bank.get(row["question_id"]) if row is not None else None
            if row is None or question is None:
                raise UnknownPost()
            post = PostRecord(row["id"], row["channel_id"], row["community_id"], question.id, row["kind"],
                              tuple(json.loads(row["choice_order"])), row["prev_daily"], row["local_date"],
                              row["revealed_at"] is not None, question)
            self._posts[post_id] = post
        return post

    async def post_view(self, post_id: int) -> views.PostView:
        post = await self._post(post_id)
        counts = self.recorder.counts(post_id)
        if counts is None:
            row = await self.db.fetchone("SELECT answered, correct FROM posts WHERE id = ?", (post_id,))
            assert row is not None
            counts = (row["answered"], row["correct"])
        return views.PostView(post.id, post.kind, post.question, post.order, counts[0], counts[1], post.revealed)

    def forget_post(self, post_id: int) -> None:
        """Drop the cached post after its state changed outside the answer path (a reveal)."""
        self._posts.pop(post_id, None)

    async def card(self, post_id: int, visibility: Visibility = Visibility.PUBLIC) -> Message:
        return views.question_card(await self.post_view(post_id), visibility)

    async def set_message_ref(self, post_id: int, ref: str) -> None:
        """Remember the platform's id of the message showing a post (to edit it later)."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE posts SET message_ref = ? WHERE id = ?", (ref, post_id))

    async def message_ref(self, post_id: int) -> str | None:
        row = await self.db.fetchone("SELECT message_ref FROM posts WHERE id = ?", (post_id,))
        return row["message_ref"] if row else None

    def _shuffle(self, q: Question) -> list[int]:
        if q.choices is None:
            return []
        order = list(range(len(q.choices.options)))
        self.rng.shuffle(order)
        return order

    async def create_post(self, channel_id: int, question: Question, *, kind: str, local_date: str,
                          requested_by: int | None = None, reveal_at: datetime | None = None) -> int | None:
        """Store a post; for a daily one, None when the channel already has that day's (the unique index)."""
        order = self._shuffle(question)
        async with self.db.transaction() as tx:
            prev = None
            if kind == "daily":
                cur = await tx.execute(
                    "SELECT id FROM posts WHERE channel_id = ? AND kind = 'daily' ORDER BY id DESC LIMIT 1",
                    (channel_id,))
                row = await cur.fetchone()
                prev = row[0] if row else None
            cur = await tx.execute(
                "INSERT INTO posts (channel_id, question_id, question_hash, kind, local_date, posted_at, "
                "reveal_at, choice_order, prev_daily, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (channel_id, question.id, question.content_hash, kind, local_date, iso(self.clock.now()),
                 iso(reveal_at) if reveal_at else None, json.dumps(order), prev, requested_by),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None

    async def _existing_member(self, actor: Actor) -> int | None:
        community = await self.community_id(actor.platform, actor.community)
        row = await self.db.fetchone("SELECT id FROM members WHERE community_id = ? AND external_id = ?",
                                     (community, actor.user))
        return int(row["id"]) if row else None

    def _today(self, zone: str) -> date:
        return self.clock.now().astimezone(ZoneInfo(zone)).date()
