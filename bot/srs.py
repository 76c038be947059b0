"""Spaced repetition per member and question, with FSRS (the `fsrs` package)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from fsrs import Card, Rating, Scheduler

RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}


@lru_cache(maxsize=1)
def _scheduler() -> Scheduler:
    # No fuzzing: the same history gives the same due date, which keeps tests and support simple.
    return Scheduler(enable_fuzzing=False)


def review(card_json: str | None, rating: str, when: datetime) -> tuple[str, datetime]:
    """Apply one review; returns the new card as JSON and when it is due next."""
    # An explicit card_id: without one, fsrs derives it from the clock and sleeps 1 ms to keep it unique.
    card = Card.from_json(card_json) if card_json else Card(card_id=1, due=when)
    card, _ = _scheduler().review_card(card, RATINGS[rating], review_datetime=when)
    return card.to_json(), card.due


def rating_for(outcome: str) -> str:
    """Answers feed FSRS too: right is Good, partly right Hard, wrong Again."""
    return {"correct": "good", "partial": "hard"}.get(outcome, "again")
