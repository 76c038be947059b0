"""The storage port for the questions table (bank sync) and communities' own questions."""

from __future__ import annotations

from typing import Protocol


class QuestionsPort(Protocol):
    """Implemented by bot/storage/sql/questions.py for both backends."""
