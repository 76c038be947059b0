"""The one service API every adapter calls: quiz, daily, answer, reveal, leaderboard, stats, settings.

Adapters translate platform events into these calls and render the messages they return. Everything a
member is told has been committed first.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot import actions, scoring, srs, views
from bot.actions import Action
from bot.answers import AnswerInput, AnswerRecorder
from bot.bank.model import DIFFICULTIES, Bank, Question
from bot.clock import Clock
from bot.errors import InvalidInput, PermissionDenied, UnknownPost
from bot.grading import MAX_ANSWER_CHARS, Verdict, grade
from bot.messages import Button, Message, Style, Visibility, ephemeral
from bot.storage.db import Database, Row
from bot.text import valid_text
from bot.zones import find_zone

log = logging.getLogger(__name__)

PERIODS = {"week": "week", "month": "month", "all": "all", "30d": "30d", "alltime": "all", "all-time": "all",
           "30": "30d", "rolling": "30d", "this-week": "week", "this-month": "month"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, and where. Ids are the platform's own (guild, channel, user)."""

    platform: str
    community: str
    channel: str
    user: str
    name: str = ""
    is_admin: bool = False
    community_name: str = ""
    channel_name: str = ""

    def __post_init__(self) -> None:
        for name in ("community", "channel", "user", "name", "community_name", "channel_name"):
            object.__setattr__(self, name, valid_text(getattr(self, name)))


@dataclass(frozen=True, slots=True)
class TextPrompt:
    """Ask the member for a free-text answer (a modal on Discord and Slack, a prompt in the console)."""

    post_id: int
    question: str


@dataclass(frozen=True, slots=True)
class AnswerResult:
    feedback: Message
    card: Message | None  # the public post with its new count, when the answer was recorded
    recorded: bool


Reply = Message | TextPrompt


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    id: int
    community_id: int
    external_id: str
    enabled: bool
    paused: bool
    post_time: str
    timezone: str
    weekdays: tuple[str, ...]
    topics: tuple[str, ...]
    difficulties: tuple[str, ...]
    reveal_minutes: int | None
    digest_channel: str | None
    digest_weekday: str | None
    digest_time: str | None
    configured_by: str | None
    enabled_at: str | None
    platform: str
    community_external: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(slots=True)
class _Post:
    id: int
    channel_id: int
    community_id: int
    question_id: str
    kind: str
    order: tuple[int, ...]
    prev_daily: int | None
    local_date: str
    revealed: bool


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def parse_time(text: str) -> str:
    try:
        parsed = datetime.strptime(text.strip(), "%H:%M")
    except ValueError as exc:
        raise InvalidInput(f"“{text}” is not a time; use 24-hour HH:MM, e.g. 09:00.") from exc
    return parsed.strftime("%H:%M")


def parse_zone(text: str) -> str:
    if find_zone(text) is None:
        shown = text.strip()[:40]
        raise InvalidInput(f"“{shown}” is not an IANA timezone; try Europe/Berlin or America/New_York.")
    return text.strip()


def parse_weekdays(text: str) -> tuple[str, ...]:
    text = text.strip().lower()
    if text in ("weekdays", "mon-fri"):
        return WEEKDAYS[:5]
    if text in ("daily", "every day", "all", "mon-sun"):
        return WEEKDAYS
    days = tuple(d.strip()[:3] for d in text.replace(" ", ",").split(",") if d.strip())
    bad = [d for d in days if d not in WEEKDAYS]
    if bad or not days:
        raise InvalidInput("Days are a comma list such as mon,wed,fri (or 'weekdays', 'daily').")
    return tuple(d for d in WEEKDAYS if d in days)


def parse_weekday(text: str) -> str:
    day = text.strip().lower()[:3]
    if day not in WEEKDAYS:
        raise InvalidInput("The digest day is a weekday such as mon or friday.")
    return day


class StudyService:
    def __init__(self, db: Database, bank: Bank, clock: Clock, *, default_timezone: str = "UTC",
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.bank = bank
        self.clock = clock
        self.default_timezone = default_timezone
        self.rng = rng or random.Random()
        self._communities: dict[tuple[str, str], int] = {}
        self._channels: dict[tuple[int, str], int] = {}
        self._members: dict[tuple[int, str], tuple[int, str]] = {}
        self._posts: dict[int, _Post] = {}
        self._settings: dict[int, ChannelSettings] = {}
        self.recorder = AnswerRecorder(db)

    # ----------------------------------------------------------------- start-up
    async def sync_bank(self) -> None:
        """Mirror the bank into the questions table by id and content hash; removed ones go inactive."""
        now = iso(self.clock.now())
        rows = [(q.id, q.topic, q.difficulty, q.content_hash, now, now) for q in self.bank.questions.values()]
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE questions SET active = 0")
            await tx.executemany(
                "INSERT INTO questions (id, topic, difficulty, content_hash, active, added_at, updated_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, "
                "difficulty = excluded.difficulty, active = 1, content_hash = excluded.content_hash, "
                "updated_at = CASE WHEN content_hash != excluded.content_hash THEN excluded.updated_at "
                "ELSE updated_at END",
                rows,
            )
            # A merged entry takes over the review cards of the entries it absorbed (its aliases), so spaced
            # repetition carries on; where a member already has a card for it, that card stays the live one.
            # Attempts keep the id they were made under: they are history.
            merged = list(self.bank.aliases.items())
            await tx.executemany("UPDATE OR IGNORE reviews SET question_id = ? WHERE question_id = ?",
                                 [(survivor, alias) for alias, survivor in merged])
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
                "ON CONFLICT (community_id, external_id) DO UPDATE SET name = name RETURNING id",
                (community, external, actor.channel_name if external == actor.channel else "",
                 self.default_timezone))
        return self._channels[key]

    async def member_id(self, actor: Actor) -> int:
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        key = (community, actor.user)
        name = actor.name or actor.user
        cached = self._members.get(key)
        if cached is None or cached[1] != name:
            async with self.db.transaction() as tx:
                cur = await tx.execute(
                    "INSERT INTO members (community_id, external_id, display_name) VALUES (?, ?, ?) "
                    "ON CONFLICT (community_id, external_id) DO UPDATE SET display_name = excluded.display_name "
                    "RETURNING id, streak, best_streak, last_daily_post",
                    (community, actor.user, name),
                )
                row = await cur.fetchone()
            assert row is not None
            self._members[key] = (int(row[0]), name)
            self.recorder.prime_member(int(row[0]), row[1], row[2], row[3])
        return self._members[key][0]

    async def channel_settings(self, channel_id: int) -> ChannelSettings:
        cached = self._settings.get(channel_id)
        if cached is not None:
            return cached
        row = await self.db.fetchone(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.id = ?", (channel_id,))
        if row is None:
            raise UnknownPost()
        self._settings[channel_id] = found = _settings(row)
        return found

    async def scheduled_channels(self) -> list[ChannelSettings]:
        rows = await self.db.fetchall(
            "SELECT ch.*, co.platform, co.external_id AS community_external FROM channels ch "
            "JOIN communities co ON co.id = ch.community_id WHERE ch.enabled = 1 ORDER BY ch.id")
        return [_settings(r) for r in rows]

    # ----------------------------------------------------------------- posts
    async def _post(self, post_id: int) -> _Post:
        post = self._posts.get(post_id)
        if post is None:
            row = await self.db.fetchone(
                "SELECT p.*, ch.community_id FROM posts p JOIN channels ch ON ch.id = p.channel_id WHERE p.id = ?",
                (post_id,))
            # A merged entry answers for the ids it absorbed (its aliases), so old posts keep working.
            question = self.bank.get(row["question_id"]) if row is not None else None
            if row is None or question is None:
                raise UnknownPost()
            post = _Post(row["id"], row["channel_id"], row["community_id"], question.id, row["kind"],
                         tuple(json.loads(row["choice_order"])), row["prev_daily"], row["local_date"],
                         row["revealed_at"] is not None)
            self._posts[post_id] = post
        return post

    async def post_view(self, post_id: int) -> views.PostView:
        post = await self._post(post_id)
        counts = self.recorder.counts(post_id)
        if counts is None:
            row = await self.db.fetchone("SELECT answered, correct FROM posts WHERE id = ?", (post_id,))
            assert row is not None
            counts = (row["answered"], row["correct"])
        return views.PostView(post.id, post.kind, self.bank.questions[post.question_id], post.order,
                              counts[0], counts[1], post.revealed)

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

    # ----------------------------------------------------------------- quiz
    def _pool(self, topic: str | None, difficulty: str | None) -> tuple[list[Question], str | None]:
        title = None
        pool = list(self.bank.questions.values())
        if topic:
            found = self.bank.find_topic(topic)
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
        reviews = await self.db.fetchall(
            "SELECT question_id, due FROM reviews WHERE member_id = ? ORDER BY due", (member,))
        for r in reviews:
            if r["due"] > now:
                break
            if r["question_id"] in allowed:
                return allowed[r["question_id"]]
        seen_rows = await self.db.fetchall(
            "SELECT question_id FROM attempts WHERE member_id = ? UNION SELECT question_id FROM reviews "
            "WHERE member_id = ?", (member, member))
        seen = {r[0] for r in seen_rows}
        unseen = [q for q in pool if q.id not in seen]
        if unseen:
            return self.rng.choice(unseen)
        for r in reviews:
            if r["question_id"] in allowed:
                return allowed[r["question_id"]]
        return self.rng.choice(pool)

    async def quiz(self, actor: Actor, topic: str | None = None, difficulty: str | None = None,
                   private: bool = False) -> Message:
        pool, _ = self._pool(topic or None, difficulty or None)
        member = await self.member_id(actor)
        channel = await self.channel_id(actor)
        question = await self.choose_practice(member, pool)
        settings = await self.channel_settings(channel)
        local = self.clock.now().astimezone(settings.zone).date().isoformat()
        post_id = await self.create_post(channel, question, kind="practice", local_date=local, requested_by=member)
        assert post_id is not None
        return await self.card(post_id, Visibility.EPHEMERAL if private else Visibility.PUBLIC)

    async def daily(self, actor: Actor, next_post: datetime | None = None) -> Message:
        """Today's daily question in this channel, or when the next one comes."""
        channel = await self.channel_id(actor)
        settings = await self.channel_settings(channel)
        today = self.clock.now().astimezone(settings.zone).date().isoformat()
        row = await self.db.fetchone(
            "SELECT id FROM posts WHERE channel_id = ? AND kind = 'daily' AND local_date = ?", (channel, today))
        if row is not None:
            return await self.card(row["id"], Visibility.EPHEMERAL)
        if not settings.enabled:
            return ephemeral("This channel has no daily question yet. An admin can start one with "
                             "/studybot setup.")
        if settings.paused:
            return ephemeral("The daily question is paused in this channel. An admin can /studybot resume it.")
        when = f" The next one comes {next_post.astimezone(settings.zone):%A %d %B at %H:%M} ({settings.timezone})." \
            if next_post else ""
        return ephemeral(f"No daily question yet today.{when} Meanwhile, try /quiz.")

    # ----------------------------------------------------------------- answers
    async def answer_choice(self, actor: Actor, post_id: int, shown: int) -> AnswerResult:
        post = await self._post(post_id)
        question = self.bank.questions[post.question_id]
        if not post.order or not 0 <= shown < len(post.order):
            raise InvalidInput("That option does not exist on this question.")
        index = post.order[shown]
        outcome = "correct" if index == 0 else "incorrect"
        assert question.choices is not None
        chosen = f"{views.LETTERS[shown]}. {question.choices.options[index]}"
        return await self._record(actor, post, mode="choice", outcome=outcome, score=float(index == 0),
                                  choice=index, text=None, chosen=chosen)

    async def answer_text(self, actor: Actor, post_id: int, text: str) -> AnswerResult:
        post = await self._post(post_id)
        text = valid_text(text).strip()
        if not text:
            raise InvalidInput("Your answer is empty: write a sentence or two.")
        if len(text) > MAX_ANSWER_CHARS:
            raise InvalidInput(f"That answer is too long; keep it under {MAX_ANSWER_CHARS} characters.")
        verdict = grade(self.bank.questions[post.question_id], text)
        return await self._record(actor, post, mode="text", outcome=verdict.label, score=verdict.score,
                                  choice=None, text=text, verdict=verdict)

    async def _record(self, actor: Actor, post: _Post, *, mode: str, outcome: str, score: float,
                      choice: int | None, text: str | None, chosen: str | None = None,
                      verdict: Verdict | None = None) -> AnswerResult:
        if post.revealed and mode != "self":
            view = await self.post_view(post.id)
            msg = views.reveal_private(view, can_rate=False)
            return AnswerResult(Message(body="This question has already been revealed, so answers no longer "
                                        "count. Here is the answer; /quiz brings a fresh one.\n\n" + msg.body,
                                        visibility=Visibility.EPHEMERAL), None, False)
        member = await self.member_id(actor)
        question = self.bank.questions[post.question_id]
        now = self.clock.now()
        settings = await self.channel_settings(post.channel_id)
        keys = scoring.period_keys(now.astimezone(settings.zone).date())
        done = await self.recorder.record(AnswerInput(
            post.id, post.community_id, post.kind, post.prev_daily, member, question, mode, outcome, score,
            choice, text, tuple(verdict.missed) if verdict else (), now, keys))
        view = views.PostView(post.id, post.kind, question, post.order, done.answered, done.correct, post.revealed)
        if done.duplicate:
            return AnswerResult(views.already_answered(view), None, False)
        if mode == "self":
            return AnswerResult(ephemeral(f"Noted ({outcome}). I'll bring this one back when it's due."), None, True)
        feedback = views.answer_feedback(view, outcome=outcome, points=done.points, streak_bonus=done.streak_bonus,
                                         streak=done.streak, chosen=chosen, verdict=verdict)
        return AnswerResult(feedback, views.question_card(view), True)

    async def reveal(self, actor: Actor, post_id: int) -> Message:
        """The answer, privately; a member who has not answered yet may rate themselves."""
        view = await self.post_view(post_id)
        member = await self.member_id(actor)
        answered = self.recorder.has_answered(post_id, member)
        if answered is None:
            row = await self.db.fetchone("SELECT 1 FROM attempts WHERE post_id = ? AND member_id = ?",
                                         (post_id, member))
            answered = row is not None
        return views.reveal_private(view, can_rate=not answered)

    async def rate(self, actor: Actor, post_id: int, rating: str) -> Message:
        if rating not in srs.RATINGS:
            raise InvalidInput("Rate with again, hard, good or easy.")
        post = await self._post(post_id)
        result = await self._record(actor, post, mode="self", outcome=rating, score=0.0, choice=None, text=None)
        return result.feedback

    async def more(self, actor: Actor, post_id: int) -> Message:
        return views.explanation(await self.post_view(post_id))

    async def press(self, actor: Actor, pressed: Action | str | None) -> Reply | AnswerResult:
        """Run a button's action (or its encoded id); adapters call this for every component."""
        action = actions.decode(pressed) if isinstance(pressed, str) else pressed
        match action:
            case actions.Practice():
                return await self.quiz(actor, private=True)
            case actions.PickTopic(slug):
                return await self.quiz(actor, slug)
            case actions.AnswerChoice(post_id, shown):
                return await self.answer_choice(actor, post_id, shown)
            case actions.AnswerInWords(post_id):
                view = await self.post_view(post_id)
                return TextPrompt(post_id, view.question.question)
            case actions.Reveal(post_id):
                return await self.reveal(actor, post_id)
            case actions.More(post_id):
                return await self.more(actor, post_id)
            case actions.Rate(post_id, rating):
                return await self.rate(actor, post_id, rating)
        raise UnknownPost()

    # ----------------------------------------------------------------- boards
    def _today(self, zone: str) -> date:
        return self.clock.now().astimezone(ZoneInfo(zone)).date()

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
                "answered, last_at) SELECT community_id, '30d', ?, topic, member_id, SUM(points), SUM(correct), "
                "SUM(answered), MAX(last_at) FROM totals WHERE community_id = ? AND period = 'day' AND topic = ? "
                "AND period_key > date(?, '-30 days') AND period_key <= ? GROUP BY member_id",
                (today, community, topic, today, today))
            await tx.execute(
                "INSERT INTO rolling_meta (community_id, topic, as_of) VALUES (?, ?, ?) "
                "ON CONFLICT (community_id, topic) DO UPDATE SET as_of = excluded.as_of", (community, topic, today))

    async def leaderboard(self, actor: Actor, period: str = "week", topic: str | None = None) -> Message:
        key = PERIODS.get((period or "week").strip().lower())
        if key is None:
            raise InvalidInput("Period is one of week, month, all, 30d.")
        slug, title = "", None
        if topic:
            found = self.bank.find_topic(topic)
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
        topics = sorted(((self.bank.topics[r["topic"]].title if r["topic"] in self.bank.topics else r["topic"],
                          r["correct"], r["answered"]) for r in rows if r["topic"]), key=lambda t: -t[2])
        m = await self.db.fetchone("SELECT display_name, streak, best_streak FROM members WHERE id = ?", (member,))
        due = await self.db.fetchone("SELECT COUNT(*) FROM reviews WHERE member_id = ? AND due <= ?",
                                     (member, iso(self.clock.now())))
        assert m is not None
        assert due is not None
        return views.stats(views.MemberStats(
            m["display_name"], overall["points"] if overall else 0, overall["correct"] if overall else 0,
            overall["answered"] if overall else 0, m["streak"], m["best_streak"], due[0], topics))

    async def _existing_member(self, actor: Actor) -> int | None:
        community = await self.community_id(actor.platform, actor.community)
        row = await self.db.fetchone("SELECT id FROM members WHERE community_id = ? AND external_id = ?",
                                     (community, actor.user))
        return int(row["id"]) if row else None

    # ----------------------------------------------------------------- admin
    def _require_admin(self, actor: Actor, what: str) -> None:
        if not actor.is_admin:
            raise PermissionDenied(what)

    async def setup(self, actor: Actor, *, channel: str | None = None, time: str = "09:00",
                    timezone: str | None = None, days: str = "weekdays", topics: str = "",
                    difficulties: str = "", reveal_minutes: int | None = None) -> Message:
        self._require_admin(actor, "/studybot setup")
        post_time = parse_time(time)
        zone = parse_zone(timezone or self.default_timezone)
        weekdays = parse_weekdays(days)
        topic_slugs = [self.bank.find_topic(t).slug for t in topics.split(",") if t.strip()]
        levels = [d.strip().lower() for d in difficulties.split(",") if d.strip()]
        if any(level not in DIFFICULTIES for level in levels):
            raise InvalidInput(f"Difficulties are a comma list of {', '.join(DIFFICULTIES)}.")
        channel_id = await self.channel_id(actor, channel)
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE channels SET enabled = 1, paused = 0, post_time = ?, timezone = ?, weekdays = ?, topics = ?, "
                "difficulty_mix = ?, reveal_minutes = ?, configured_by = ?, enabled_at = ?, "
                "digest_channel = COALESCE(digest_channel, external_id), digest_weekday = COALESCE(digest_weekday, "
                "'mon'), digest_time = COALESCE(digest_time, ?) WHERE id = ?",
                (post_time, zone, ",".join(weekdays), ",".join(topic_slugs), ",".join(levels), reveal_minutes,
                 actor.user, iso(self.clock.now()), post_time, channel_id))
        self._settings.clear()
        return await self.status(actor, channel)

    async def set_digest(self, actor: Actor, *, channel: str | None = None, day: str = "mon",
                         time: str = "09:00", for_channel: str | None = None) -> Message:
        """The weekly digest of `for_channel`'s community goes to `channel` on `day` at `time`."""
        self._require_admin(actor, "/studybot digest")
        weekday, at = parse_weekday(day), parse_time(time)
        source = await self.channel_id(actor, for_channel)
        target = channel or actor.channel
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE channels SET digest_channel = ?, digest_weekday = ?, digest_time = ? "
                             "WHERE id = ?", (target, weekday, at, source))
        self._settings.clear()
        return ephemeral(f"The weekly digest will be posted every {weekday.capitalize()} at {at}.")

    async def set_paused(self, actor: Actor, paused: bool, channel: str | None = None) -> Message:
        self._require_admin(actor, "/studybot pause" if paused else "/studybot resume")
        channel_id = await self.channel_id(actor, channel)
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE channels SET paused = ? WHERE id = ?", (int(paused), channel_id))
        self._settings.clear()
        return ephemeral("Paused: no daily questions here until /studybot resume." if paused
                         else "Resumed: daily questions are back on.")

    async def status(self, actor: Actor, channel: str | None = None) -> Message:
        self._require_admin(actor, "/studybot status")
        s = await self.channel_settings(await self.channel_id(actor, channel))
        if not s.enabled:
            return ephemeral("No daily question is set up here. Use /studybot setup.")
        state = "paused" if s.paused else "active"
        topics = ", ".join(s.topics) or "all topics"
        levels = ", ".join(s.difficulties) or "all difficulties"
        reveal = f"{s.reveal_minutes} min after posting" if s.reveal_minutes else "just before the next question"
        digest = f"{(s.digest_weekday or 'mon').capitalize()} {s.digest_time}" if s.digest_time else "off"
        return ephemeral(
            f"Daily question: {state}, {s.post_time} {s.timezone} on {', '.join(s.weekdays)}\n"
            f"Topics: {topics} · {levels}\nReveal: {reveal}\nWeekly digest: {digest}",
            title="studybot status")

    def topic_buttons(self, query: str = "") -> tuple[Button, ...]:
        found = self.bank.search_topics(query) if query else list(self.bank.topics.values())
        return tuple(Button.of(actions.PickTopic(t.slug), t.title, Style.SECONDARY) for t in found[:25])


def _settings(r: Row) -> ChannelSettings:
    return ChannelSettings(
        id=r["id"], community_id=r["community_id"], external_id=r["external_id"],
        enabled=bool(r["enabled"]), paused=bool(r["paused"]), post_time=r["post_time"],
        timezone=r["timezone"], weekdays=tuple(d for d in r["weekdays"].split(",") if d),
        topics=tuple(t for t in r["topics"].split(",") if t),
        difficulties=tuple(d for d in r["difficulty_mix"].split(",") if d),
        reveal_minutes=r["reveal_minutes"], digest_channel=r["digest_channel"],
        digest_weekday=r["digest_weekday"], digest_time=r["digest_time"],
        configured_by=r["configured_by"], enabled_at=r["enabled_at"],
        platform=r["platform"],
        community_external=r["community_external"],
    )

