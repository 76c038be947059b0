"""Scoring rules (documented in the README under "Scoring")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

BASE_POINTS = {"easy": 10, "medium": 20, "hard": 30}
PRACTICE_SHARE = 0.5  # a practice question is worth half the daily question
PARTIAL_SHARE = 0.5  # a partly right free-text answer earns half
STREAK_BONUS_PER_DAY = 2
STREAK_BONUS_CAP = 10


@dataclass(frozen=True, slots=True)
class Award:
    points: int
    base: int
    streak_bonus: int


def award(difficulty: str, *, kind: str, outcome: str, streak: int, practice_scored_today: bool) -> Award:
    """Points for the member's one attempt on a post.

    outcome: "correct" | "partial" | "incorrect" | "unsure" | "self". Self-ratings (after a reveal, or
    after an unsure verdict) earn nothing: points cannot be farmed by rating oneself "easy".
    streak: the member's daily streak counting this answer (daily posts only).
    practice_scored_today: the member already scored this question in practice today (no farming).
    """
    if outcome in ("incorrect", "unsure", "self"):
        return Award(0, 0, 0)
    base = BASE_POINTS[difficulty]
    if kind == "practice":
        if practice_scored_today:
            return Award(0, 0, 0)
        base = round(base * PRACTICE_SHARE)
    if outcome == "partial":
        base = round(base * PARTIAL_SHARE)
    bonus = 0
    if kind == "daily" and outcome == "correct":
        bonus = min(STREAK_BONUS_CAP, STREAK_BONUS_PER_DAY * max(0, streak - 1))
    return Award(base + bonus, base, bonus)


def next_streak(*, current: int, last_daily_post: int | None, post_id: int, prev_daily: int | None) -> int:
    """A streak counts consecutive daily questions of a channel answered, right or wrong.

    Days without a post (weekends, paused channels) do not break it; missing a posted one does.
    """
    if last_daily_post == post_id:
        return current
    if prev_daily is not None and last_daily_post == prev_daily:
        return current + 1
    return 1


def thirty_days_before(day: str) -> str:
    """The exclusive lower bound of the rolling 30-day board that ends on `day` (ISO dates)."""
    return (date.fromisoformat(day) - timedelta(days=30)).isoformat()


def period_keys(day: date) -> dict[str, str]:
    monday = day - timedelta(days=day.weekday())
    return {"day": day.isoformat(), "week": monday.isoformat(), "month": day.strftime("%Y-%m")}
