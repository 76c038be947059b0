"""What the scheduler posts besides the question: the reveal of the daily answer and the weekly digest
(with its chart). Read-only: built from the database and the bank."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from bot import views
from bot.domain import ChannelSettings
from bot.messages import Field, Image, Message
from bot.ports.reports import ReportsPort
from bot.scoring import period_keys
from bot.service import StudyService

REVEAL_TITLE, DIGEST_TITLE = "Reveal", "Weekly digest"


class Reports:
    def __init__(self, service: StudyService) -> None:
        self.service = service

    @property
    def store(self) -> ReportsPort:
        return self.service.store.reports

    async def reveal_message(self, post_id: int) -> Message:
        view = await self.service.post_view(post_id)
        q = view.question
        posted_at = await self.store.posted_at(post_id)
        fastest = await self.store.fastest_correct(post_id)
        missed: Counter[str] = Counter(await self.store.missed_points(post_id))
        fields = [Field("Key points", "\n".join(f"- {k.point}" for k in q.key_points))]
        if fastest and posted_at:
            seconds = (datetime.fromisoformat(fastest[1]) - datetime.fromisoformat(posted_at)).total_seconds()
            fields.append(Field("Fastest correct answer", f"{fastest[0]} after {_duration(seconds)}", inline=True))
        if missed:
            fields.append(Field("Most missed in written answers",
                                "\n".join(f"- {p} ({n}×)" for p, n in missed.most_common(3))))
        body = f"**{q.question}**\n\n{views._correct_line(view)}{q.answer}"
        if q.explanation:
            body += f"\n\n{q.explanation}"
        return Message(title="The answer", body=body, fields=tuple(fields),
                       footer=views.stats_line(view), kind=REVEAL_TITLE, post_id=post_id)

    async def digest(self, channel: ChannelSettings, day: date, *, images: bool) -> Message:
        """The week before `day`: top 10 with movement, streaks, most-missed question, topics, participation."""
        service = self.service
        week = period_keys(day - timedelta(days=1))["week"]
        previous = (date.fromisoformat(week) - timedelta(days=7)).isoformat()
        community = channel.community_id
        this = await service.standings(community, "week", today=date.fromisoformat(week))
        before = await service.standings(community, "week", today=date.fromisoformat(previous), limit=1000)
        old_rank = {s.name: s.rank for s in before}
        lines = []
        for s in this:
            move = old_rank.get(s.name)
            arrow = "new" if move is None else ("=" if move == s.rank else
                                                (f"▲{move - s.rank}" if move > s.rank else f"▼{s.rank - move}"))
            lines.append(f"{s.rank}. {s.name} · {views.pts(s.points)} ({arrow})")
        end = (date.fromisoformat(week) + timedelta(days=7)).isoformat()
        streaks = await self.store.longest_streaks(community)
        worst = await self.store.most_missed_question(community, week, end)
        topics = await self.store.topic_accuracy(community, week, end)
        people = await self.store.participation(community, week, end)
        fields = [Field("Top 10", "\n".join(lines) or "Nobody scored this week.")]
        if streaks:
            fields.append(Field("Longest streaks", "\n".join(f"- {r[0]}: {r[1]}" for r in streaks), inline=True))
        bank = await service.bank_for(community)
        if worst and worst["question_id"] in bank.questions:
            q = bank.questions[worst["question_id"]]
            fields.append(Field("Most missed question",
                                f"{q.question}\n{worst['ok']}/{worst['n']} right. Answer: {q.answer}"))
        accuracy = [(bank.topics[r[0]].title if r[0] in bank.topics else r[0],
                     round(100 * r[1] / r[2])) for r in topics]
        if accuracy:
            fields.append(Field("Team accuracy by topic", "\n".join(f"- {t}: {a}%" for t, a in accuracy)))
        fields.append(Field("Participation", f"{people[0]} members, {people[1]} answers", inline=True))
        image = _chart(this, accuracy) if images and (this or accuracy) else None
        return Message(title=f"Weekly digest · week of {week}", fields=tuple(fields), kind=DIGEST_TITLE,
                       image=image)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _chart(standings: list[views.Standing], accuracy: list[tuple[str, int]]) -> Image:
    """Points per member as a PNG. matplotlib is imported only here: it is heavy and optional at idle."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    if standings:
        names = [s.name for s in standings][::-1]
        ax.barh(names, [s.points for s in standings][::-1], color="#5865F2")
        ax.set_xlabel("points this week")
    else:
        ax.barh([t for t, _ in accuracy], [a for _, a in accuracy], color="#2EB67D")
        ax.set_xlabel("accuracy %")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    alt = "Points this week: " + ", ".join(f"{s.name} {s.points}" for s in standings)
    return Image("digest.png", buf.getvalue(), alt)
