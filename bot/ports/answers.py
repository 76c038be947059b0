"""The storage port for attempts and review cards: what the answer recorder reads and writes, self-ratings."""

from __future__ import annotations

from typing import Protocol


class AnswersPort(Protocol):
    """Implemented by bot/storage/sql/answers.py for both backends."""
