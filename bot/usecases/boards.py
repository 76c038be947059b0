"""Leaderboards and member stats, read from the pre-aggregated totals."""

from __future__ import annotations

from datetime import date

from bot import scoring, views
from bot.anki import misses_deck
from bot.bank.model import Bank, Question
from bot.domain import PERIODS, Actor, iso
from bot.errors import InvalidInput
from bot.messages import Attachment, Message, Visibility, ephemeral
from bot.scoring import thirty_days_before
from bot.usecases.base import ServiceBase


class Boards(ServiceBase):
    async def standings(self, community: int, period: str, topic: str = "", *, zone: str = "UTC",
                        limit: int = 10, today: date | None = None) -> list[views.Standing]:
        today = today or self._today(zone)
        keys = scoring.period_keys(today)
        key = {"all": "all", "week": keys["week"], "month": keys["month"], "30d": keys["day"]}[period]
        if period == "30d":
            await self._refresh_rolling(community, topic, keys["day"])
        rows = await self.store.boards.standings(community, period, key, topic, limit)
        return [views.Standing(i + 1, r["display_name"], r["points"], r["correct"], r["answered"])
                for i, r in enumerate(rows)]

    async def _refresh_rolling(self, community: int, topic: str, today: str) -> None:
        """Rebuild the rolling 30-day totals once a day; the attempts trigger keeps them current."""
        if await self.store.boards.rolling_as_of(community, topic) == today:
            return
        await self.store.boards.refresh_rolling(community, topic, today, after=thirty_days_before(today))

    async def leaderboard(self, actor: Actor, period: str = "week", topic: str | None = None) -> Message:
        key = PERIODS.get((period or "week").strip().lower())
        if key is None:
            raise InvalidInput("Period is one of week, month, all, 30d.")
        slug, title = "", None
        if topic:
            found = (await self.actor_bank(actor)).find_topic(topic)
            slug, title = found.slug, found.title
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        settings = await self.channel_settings(await self.channel_id(actor))
        rows = await self.standings(community, key, slug, zone=settings.timezone)
        return views.leaderboard(key, title, rows)

    async def stats(self, actor: Actor, user: str | None = None, name: str | None = None) -> Message:
        target = Actor(actor.platform, actor.community, actor.channel, user or actor.user,
                       name or (user if user else actor.name), community_name=actor.community_name)
        member = await self.member_id(target) if user is None else await self._existing_member(target)
        if member is None:
            return ephemeral(f"{target.name} has not answered anything yet.")
        community = await self.community_id(actor.platform, actor.community)
        rows = await self.store.boards.all_time_totals(community, member)
        overall = next((r for r in rows if r["topic"] == ""), None)
        bank = await self.bank_for(community)
        topics = sorted(((bank.topics[r["topic"]].title if r["topic"] in bank.topics else r["topic"],
                          r["correct"], r["answered"]) for r in rows if r["topic"]), key=lambda t: -t[2])
        m = await self.store.boards.member_streaks(member)
        due = await self.store.boards.reviews_due(member, iso(self.clock.now()))
        assert m is not None
        misses = len(await self._missed(member, bank)) if user is None else 0  # only one's own to export
        return views.stats(views.MemberStats(
            m["display_name"], overall["points"] if overall else 0, overall["correct"] if overall else 0,
            overall["answered"] if overall else 0, m["streak"], m["best_streak"], due, topics, misses))

    async def export_misses(self, actor: Actor) -> Message:
        """The member's missed questions as an Anki deck, with answers and explanations."""
        member = await self.member_id(actor)
        questions = await self._missed(member, await self.actor_bank(actor))
        if not questions:
            return ephemeral("You have no missed questions to export. Keep going!")
        deck = misses_deck(actor.name or actor.user, questions)
        return Message(body=f"Your {len(questions)} missed question(s) as an Anki deck: open it with Anki "
                            "(File → Import). Importing a newer export updates the same cards.",
                       visibility=Visibility.EPHEMERAL,
                       file=Attachment("studybot-misses.apkg", deck, f"{len(questions)} missed questions"))

    async def _missed(self, member: int, bank: Bank) -> list[Question]:
        """Questions the member answered wrong (by choice or in words; not self-rated or unsure ones)."""
        ids = await self.store.boards.missed_question_ids(member)
        return [q for qid in ids if (q := bank.get(qid)) is not None]
