"""Practice questions and the daily question: choosing what to ask (reviews due first)."""

from __future__ import annotations

from datetime import datetime

from bot.bank.model import DIFFICULTIES, Bank, Question
from bot.domain import (
    Actor,
    iso,
)
from bot.errors import InvalidInput
from bot.messages import Message, Visibility, ephemeral
from bot.usecases.base import ServiceBase


class Practice(ServiceBase):
    @staticmethod
    def _pool(bank: Bank, topic: str | None, difficulty: str | None) -> tuple[list[Question], str | None]:
        title = None
        pool = list(bank.questions.values())
        if topic:
            found = bank.find_topic(topic)
            pool = list(found.questions)
            title = found.title
        if difficulty:
            level = difficulty.strip().lower()
            if level not in DIFFICULTIES:
                raise InvalidInput(f"Difficulty is one of {', '.join(DIFFICULTIES)}.")
            pool = [q for q in pool if q.difficulty == level]
        if not pool:
            raise InvalidInput("No questions match that topic and difficulty.")
        return pool, title

    async def choose_practice(self, member: int, pool: list[Question]) -> Question:
        """Most overdue review first, then a question never seen, then the one due soonest."""
        allowed = {q.id: q for q in pool}
        now = iso(self.clock.now())
        reviews = await self.store.questions.reviews_by_due(member)
        for r in reviews:
            if r["due"] > now:
                break
            if r["question_id"] in allowed:
                return allowed[r["question_id"]]
        seen = await self.store.questions.seen_by(member)
        unseen = [q for q in pool if q.id not in seen]
        if unseen:
            return self.rng.choice(unseen)
        for r in reviews:
            if r["question_id"] in allowed:
                return allowed[r["question_id"]]
        return self.rng.choice(pool)

    async def quiz(self, actor: Actor, topic: str | None = None, difficulty: str | None = None,
                   private: bool = False) -> Message:
        channel = await self.channel_id(actor)
        settings = await self.channel_settings(channel)
        bank = await self.pool_bank(settings)
        if not bank.questions:  # a pool of the community's own questions, and it has none yet
            raise InvalidInput("This channel's questions come from this community's own, and there are none yet: "
                               "write one with /studybot question add (an admin can change the channel's pool "
                               "with /studybot pool).")
        pool, _ = self._pool(bank, topic or None, difficulty or None)
        member = await self.member_id(actor)
        question = await self.choose_practice(member, pool)
        local = self.clock.now().astimezone(settings.zone).date().isoformat()
        post_id = await self.create_post(channel, question, kind="practice", local_date=local, requested_by=member)
        assert post_id is not None
        return await self.card(post_id, Visibility.EPHEMERAL if private else Visibility.PUBLIC)

    async def daily(self, actor: Actor, next_post: datetime | None = None) -> Message:
        """Today's daily question in this channel, or when the next one comes."""
        channel = await self.channel_id(actor)
        settings = await self.channel_settings(channel)
        today = self.clock.now().astimezone(settings.zone).date().isoformat()
        post_id = await self.store.posts.daily_id(channel, today)
        if post_id is not None:
            return await self.card(post_id, Visibility.EPHEMERAL)
        if not settings.enabled:
            return ephemeral("This channel has no daily question yet. An admin can start one with "
                             "/studybot setup.")
        if settings.paused:
            return ephemeral("The daily question is paused in this channel. An admin can /studybot resume it.")
        when = f" The next one comes {next_post.astimezone(settings.zone):%A %d %B at %H:%M} ({settings.timezone})." \
            if next_post else ""
        return ephemeral(f"No daily question yet today.{when} Meanwhile, try /quiz.")
