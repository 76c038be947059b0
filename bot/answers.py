"""Recording answers with group commit.

Answers that arrive together (a burst of clicks on the daily question) are written in one transaction,
a few statements for the whole batch, and each member is told the outcome only after that commit.

On a single-writer backend (SQLite: one bot per file, see the scheduler lease) the state an answer needs
(who already answered a post, streaks, review cards) is read once and then kept in memory, and the
database's unique (post, member) constraint stays the final guard against a double count. On a shared
backend (PostgreSQL with replicas) nothing in memory is the truth: each batch locks its members' rows, reads
that state inside the transaction and writes in the same one, so two replicas answering for one member take
turns and a member answers a post once whichever replica the clicks reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import scoring, srs
from bot.bank.model import Question
from bot.batching import GroupCommit, Lru
from bot.ports.answers import AnswersPort
from bot.storage.port import Database, Transaction, retrying

MAX_BATCH = 500
# Cache sizes, each well above 2 x MAX_BATCH so a batch never evicts its own entries.
POSTS_CACHED = 2_000
MEMBERS_CACHED = 20_000
CARDS_CACHED = 100_000



@dataclass(frozen=True, slots=True)
class AnswerInput:
    post_id: int
    community_id: int
    kind: str  # daily | practice
    prev_daily: int | None
    member: int
    question: Question
    mode: str  # choice | text | self
    outcome: str  # correct | partial | incorrect, or the self-rating
    score: float
    choice: int | None
    text: str | None
    missed: tuple[str, ...]
    when: datetime
    keys: dict[str, str]  # day, week, month in the channel's timezone


@dataclass(frozen=True, slots=True)
class Recorded:
    duplicate: bool
    points: int = 0
    streak_bonus: int = 0
    streak: int = 0
    answered: int = 0
    correct: int = 0


@dataclass(slots=True)
class _Streak:
    streak: int
    best: int
    last_daily_post: int | None


class AnswerRecorder:
    def __init__(self, db: Database, answers: AnswersPort) -> None:
        self.db = db  # transactions and the backend's contract; every statement goes through `answers`
        self.answers = answers
        self._batches: GroupCommit[AnswerInput, Recorded] = GroupCommit(self._process_fresh, MAX_BATCH)
        # Bounded: a long-running bot must not grow without limit; what falls out is read again when needed.
        self._answered: Lru[int, set[int]] = Lru(POSTS_CACHED)
        self._counts: Lru[int, list[int]] = Lru(POSTS_CACHED)
        self._streaks: Lru[int, _Streak] = Lru(MEMBERS_CACHED)
        self._cards: Lru[tuple[int, str], str | None] = Lru(CARDS_CACHED)
        self._practice_scored: Lru[tuple[int, str, str], None] = Lru(CARDS_CACHED)

    async def record(self, item: AnswerInput) -> Recorded:
        return await self._batches.submit(item)

    def prime_member(self, member: int, streak: int, best: int, last_daily_post: int | None) -> None:
        """The member's streak state, as read anyway when the member was looked up."""
        if self.db.single_writer and member not in self._streaks:
            self._streaks[member] = _Streak(streak, best, last_daily_post)

    def counts(self, post_id: int) -> tuple[int, int] | None:
        """The post's (answered, correct), when known here; None: read the database."""
        found = self._counts.get(post_id) if self.db.single_writer else None
        return (found[0], found[1]) if found else None

    def forget_card(self, member: int, question_id: str) -> None:
        """The member's review card changed outside this recorder (a self-rating): read it again."""
        self._cards.pop((member, question_id), None)

    def forget_post(self, post_id: int) -> None:
        """The post's counts changed outside this recorder (an upheld appeal): read them again next time."""
        self._counts.pop(post_id, None)
        self._answered.pop(post_id, None)  # the two are loaded together

    def has_answered(self, post_id: int, member: int) -> bool | None:
        found = self._answered.get(post_id) if self.db.single_writer else None
        return None if found is None else member in found

    async def _process_fresh(self, batch: list[AnswerInput]) -> list[Recorded]:
        if not self.db.single_writer:
            return await self._process_shared(batch)
        try:
            return await self._process(batch)
        except self.db.conflict_errors:
            # Another process (a second console on the same file) recorded one of these answers first: the
            # unique constraint held and the transaction rolled back. Forget what this batch cached, read it
            # again and retry once, so that member is told "already answered" instead of seeing an error.
            self._forget(batch)
            return await self._process(batch)

    async def _process_shared(self, batch: list[AnswerInput]) -> list[Recorded]:
        async def work(tx: Transaction) -> _Plan:
            self._forget(batch)  # a run after a transient failure starts from what the database holds
            # Members' rows first, in id order: replicas serialise per member and cannot deadlock.
            await self.answers.lock_members(tx, {i.member for i in batch})
            await self._load(batch, tx)
            plan = self._plan(batch)
            await self._write(tx, plan)
            for post_id, answered, correct in await self.answers.counts_of(tx, {i.post_id for i in batch}):
                self._counts[post_id] = [answered, correct]
            return plan

        return self._results(batch, await retrying(self.db, work), learn=False)

    def _forget(self, batch: list[AnswerInput]) -> None:
        for item in batch:
            self._answered.pop(item.post_id, None)
            self._counts.pop(item.post_id, None)
            self._streaks.pop(item.member, None)
            self._cards.pop((item.member, item.question.id), None)
            self._practice_scored.pop((item.member, item.question.id, item.keys["day"]), None)

    async def _load(self, batch: list[AnswerInput], tx: Transaction | None = None) -> None:
        """Read, once, the state these answers need and the cache does not hold yet (in `tx`: the batch's
        transaction on a shared backend)."""
        # Keep what this batch uses at the young end, so loading the rest cannot evict it.
        self._answered.touch(i.post_id for i in batch)
        self._counts.touch(i.post_id for i in batch)
        self._streaks.touch(i.member for i in batch)
        self._cards.touch((i.member, i.question.id) for i in batch)
        for post_id in {i.post_id for i in batch} - self._answered.keys():
            answered = await self.answers.answered_by(post_id, tx)
            counts = await self.answers.counts(post_id, tx)
            self._answered[post_id] = answered
            self._counts[post_id] = list(counts) if counts else [0, 0]
        members = list({i.member for i in batch} - self._streaks.keys())
        if members:
            for member, streak, best, last_daily_post in await self.answers.streaks(members, tx):
                self._streaks[member] = _Streak(streak, best, last_daily_post)
        cards = list({(i.member, i.question.id) for i in batch} - self._cards.keys())
        if cards:
            cards_found = await self.answers.cards(cards, tx)
            for pair in cards:
                self._cards[pair] = cards_found.get(pair)
        practice = list({(i.member, i.question.id, i.keys["day"]) for i in batch
                         if i.kind == "practice" and i.outcome in ("correct", "partial")}
                        - self._practice_scored.keys())
        if practice:
            for scored in await self.answers.practice_scored(practice, tx):
                self._practice_scored[scored] = None

    async def _process(self, batch: list[AnswerInput]) -> list[Recorded]:
        await self._load(batch)
        plan = self._plan(batch)
        if plan.attempts:
            async with self.db.transaction() as tx:
                await self._write(tx, plan)
        return self._results(batch, plan, learn=True)

    def _plan(self, batch: list[AnswerInput]) -> _Plan:
        """Decide every answer of the batch from the loaded state: duplicates, streaks, points, cards."""
        plan = _Plan(streaks={m: _Streak(s.streak, s.best, s.last_daily_post)
                              for m in {i.member for i in batch} for s in (self._streaks[m],)})
        taken: set[tuple[int, int]] = set()
        for item in batch:
            key = (item.post_id, item.member)
            if item.member in self._answered[item.post_id] or key in taken:
                plan.results.append(None)
                continue
            taken.add(key)
            state = plan.streaks[item.member]
            counts_for_streak = item.kind == "daily" and item.mode != "self"
            streak = scoring.next_streak(current=state.streak, last_daily_post=state.last_daily_post,
                                         post_id=item.post_id, prev_daily=item.prev_daily) \
                if counts_for_streak else state.streak
            practice_key = (item.member, item.question.id, item.keys["day"])
            award = scoring.award(item.question.difficulty, kind=item.kind,
                                  outcome="self" if item.mode == "self" else item.outcome, streak=streak,
                                  practice_scored_today=practice_key in self._practice_scored
                                  or practice_key in plan.scored)
            if item.kind == "practice" and award.points > 0:
                plan.scored.add(practice_key)
            if counts_for_streak:
                state.streak, state.best, state.last_daily_post = streak, max(state.best, streak), item.post_id
                plan.streak_rows.append((streak, state.best, item.post_id, item.member))
            correct = int(item.outcome == "correct" and item.mode != "self")
            plan.attempts.append((item.post_id, item.member, item.community_id, item.question.id,
                                  item.question.topic, item.kind, item.mode, item.choice, item.text, item.score,
                                  correct, award.points, json.dumps(list(item.missed)),
                                  item.when.isoformat(timespec="milliseconds"), item.keys["day"], item.keys["week"],
                                  item.keys["month"], item.outcome if item.mode == "text" else None))
            plan.results.append(Recorded(False, award.points, award.streak_bonus, streak))
            if item.outcome == "unsure":
                continue  # the member's own rating schedules the review (Answering.rate)
            rating = item.outcome if item.mode == "self" else srs.rating_for(item.outcome)
            card_key = (item.member, item.question.id)
            card, due = srs.review(plan.cards.get(card_key, self._cards.get(card_key)), rating, item.when)
            plan.cards[card_key] = card
            plan.review_rows.append((item.member, item.question.id, card, due.isoformat(timespec="milliseconds"),
                                     int(rating == "again")))
        # Posts in id order: two transactions touching the same posts lock them in the same order.
        plan.attempts.sort(key=lambda row: (row[0], row[1]))
        return plan

    async def _write(self, tx: Transaction, plan: _Plan) -> None:
        if not plan.attempts:
            return
        await self.answers.insert_attempts(tx, plan.attempts)
        if plan.streak_rows:
            await self.answers.update_streaks(tx, plan.streak_rows)
        if plan.review_rows:
            await self.answers.upsert_reviews(tx, plan.review_rows)

    def _results(self, batch: list[AnswerInput], plan: _Plan, *, learn: bool) -> list[Recorded]:
        """What each member is told, once committed. `learn`: keep what was written as the cached truth
        (single writer); otherwise the post counts were read back inside the transaction."""
        if learn:
            for member, state in plan.streaks.items():
                self._streaks[member] = state
            for pair, card in plan.cards.items():
                self._cards[pair] = card
            for scored_key in plan.scored:
                self._practice_scored[scored_key] = None
        final: list[Recorded] = []
        for item, result in zip(batch, plan.results, strict=True):
            if result is not None and learn:
                counts = self._counts[item.post_id]
                self._answered[item.post_id].add(item.member)
                counts[0] += 1
                counts[1] += int(item.outcome == "correct" and item.mode != "self")
            final.append(result or Recorded(True))
        return [Recorded(r.duplicate, r.points, r.streak_bonus, r.streak, *self._counts[i.post_id])
                for r, i in zip(final, batch, strict=True)]


@dataclass(slots=True)
class _Plan:
    streaks: dict[int, _Streak]
    results: list[Recorded | None] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    streak_rows: list[tuple[Any, ...]] = field(default_factory=list)
    review_rows: list[tuple[Any, ...]] = field(default_factory=list)
    cards: dict[tuple[int, str], str] = field(default_factory=dict)
    scored: set[tuple[int, str, str]] = field(default_factory=set)
