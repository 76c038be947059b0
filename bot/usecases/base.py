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
        self.recorder = AnswerRecorder(db, self.store.answers)
        self.member_writer = MemberWriter(db, self.store.identities)
        self.grader = grader or Grader()  # written answers: offline, or the LLM judge (bot/judge.py)
        self.banks = CommunityBanks(self.store.questions, bank)

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
        # A merged entry takes over the review cards of the entries it absorbed (its aliases), so spaced
        # repetition carries on; where a member already has a card for it, that card stays the live one.
        await self.store.questions.sync(rows, list(self.bank.aliases.items()))

    # ----------------------------------------------------------------- identities
    async def community_id(self, platform: str, external: str, name: str = "") -> int:
        key = (platform, external)
        if key not in self._communities:
            self._communities[key] = await self.store.identities.community_id(
                platform, external, name, iso(self.clock.now()))
        return self._communities[key]

    async def channel_id(self, actor: Actor, external: str | None = None) -> int:
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        external = external or actor.channel
        key = (community, external)
        if key not in self._channels:
            self._channels[key] = await self.store.identities.channel_id(
                community, external, actor.channel_name if external == actor.channel else "", self.default_timezone)
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
        row = await self.store.identities.channel_settings(channel_id)
        if row is None:
            raise UnknownPost()
        self._settings[channel_id] = found = settings_from_row(row)
        return found

    async def scheduled_channels(self) -> list[ChannelSettings]:
        return [settings_from_row(r) for r in await self.store.identities.scheduled_channels()]

    # ----------------------------------------------------------------- posts
    async def _post(self, post_id: int) -> PostRecord:
        self._expire_shared()
        post = self._posts.get(post_id)
        if post is None:
            row = await self.store.posts.record(post_id)
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
            counts = await self.store.posts.counts(post_id)
            assert counts is not None
        return views.PostView(post.id, post.kind, post.question, post.order, counts[0], counts[1], post.revealed)

    def forget_post(self, post_id: int) -> None:
        """Drop the cached post after its state changed outside the answer path (a reveal)."""
        self._posts.pop(post_id, None)

    async def card(self, post_id: int, visibility: Visibility = Visibility.PUBLIC) -> Message:
        return views.question_card(await self.post_view(post_id), visibility)

    async def set_message_ref(self, post_id: int, ref: str) -> None:
        """Remember the platform's id of the message showing a post (to edit it later)."""
        await self.store.posts.set_message_ref(post_id, ref)

    async def message_ref(self, post_id: int) -> str | None:
        return await self.store.posts.message_ref(post_id)

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
        return await self.store.posts.create(
            channel_id, question.id, question.content_hash, kind=kind, local_date=local_date,
            posted_at=iso(self.clock.now()), reveal_at=iso(reveal_at) if reveal_at else None,
            choice_order=json.dumps(order), requested_by=requested_by)

    async def _existing_member(self, actor: Actor) -> int | None:
        community = await self.community_id(actor.platform, actor.community)
        return await self.store.identities.existing_member_id(community, actor.user)

    def _today(self, zone: str) -> date:
        return self.clock.now().astimezone(ZoneInfo(zone)).date()
