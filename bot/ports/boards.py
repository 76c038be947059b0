"""The storage port for leaderboard totals, the rolling board, member stats and misses."""

from __future__ import annotations

from typing import Protocol


class BoardsPort(Protocol):
    """Implemented by bot/storage/sql/boards.py for both backends."""
