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
        rows = await self.db.fetchall(
            "SELECT t.points, t.correct, t.answered, m.display_name FROM totals t JOIN members m "
            "ON m.id = t.member_id WHERE t.community_id = ? AND t.period = ? AND t.period_key = ? AND t.topic = ? "
            "AND t.points > 0 ORDER BY t.points DESC, t.correct DESC, t.last_at, t.member_id LIMIT ?",
            (community, period, key, topic, limit))
        return [views.Standing(i + 1, r["display_name"], r["points"], r["correct"], r["answered"])
                for i, r in enumerate(rows)]

    async def _refresh_rolling(self, community: int, topic: str, today: str) -> None:
        """Rebuild the rolling 30-day totals once a day; the attempts trigger keeps them current."""
        row = await self.db.fetchone("SELECT as_of FROM rolling_meta WHERE community_id = ? AND topic = ?",
                                     (community, topic))
        if row is not None and row["as_of"] == today:
            return
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM totals WHERE community_id = ? AND period = '30d' AND topic = ?",
                             (community, topic))
            await tx.execute(
                "INSERT INTO totals (community_id, period, period_key, topic, member_id, points, correct, "
                "answered, last_at) SELECT CAST(? AS BIGINT), '30d', CAST(? AS TEXT), CAST(? AS TEXT), member_id, "
                "SUM(points), SUM(correct), "
                "SUM(answered), MAX(last_at) FROM totals WHERE community_id = ? AND period = 'day' AND topic = ? "
                "AND period_key > ? AND period_key <= ? GROUP BY member_id "
                "ON CONFLICT (community_id, period, period_key, topic, member_id) DO NOTHING",  # a replica raced us
                (community, today, topic, community, topic, thirty_days_before(today), today))
            await tx.execute(
                "INSERT INTO rolling_meta (community_id, topic, as_of) VALUES (?, ?, ?) "
                "ON CONFLICT (community_id, topic) DO UPDATE SET as_of = excluded.as_of", (community, topic, today))

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
        rows = await self.db.fetchall(
            "SELECT topic, points, correct, answered FROM totals WHERE community_id = ? AND period = 'all' "
            "AND period_key = 'all' AND member_id = ?", (community, member))
        overall = next((r for r in rows if r["topic"] == ""), None)
        bank = await self.bank_for(community)
        topics = sorted(((bank.topics[r["topic"]].title if r["topic"] in bank.topics else r["topic"],
                          r["correct"], r["answered"]) for r in rows if r["topic"]), key=lambda t: -t[2])
        m = await self.db.fetchone("SELECT display_name, streak, best_streak FROM members WHERE id = ?", (member,))
        due = await self.db.fetchone("SELECT COUNT(*) FROM reviews WHERE member_id = ? AND due <= ?",
                                     (member, iso(self.clock.now())))
        assert m is not None
        assert due is not None
        misses = len(await self._missed(member, bank)) if user is None else 0  # only one's own to export
        return views.stats(views.MemberStats(
            m["display_name"], overall["points"] if overall else 0, overall["correct"] if overall else 0,
            overall["answered"] if overall else 0, m["streak"], m["best_streak"], due[0], topics, misses))

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
        rows = await self.db.fetchall(
            "SELECT question_id, MAX(id) AS latest FROM attempts WHERE member_id = ? AND correct = 0 "
            "AND mode != 'self' AND COALESCE(verdict, '') != 'unsure' GROUP BY question_id ORDER BY latest DESC",
            (member,))
        return [q for r in rows if (q := bank.get(r["question_id"])) is not None]
