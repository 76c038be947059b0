"""The storage port for scheduled runs (claims) and the scheduler lease."""

from __future__ import annotations

from typing import Protocol


class ScheduleRunsPort(Protocol):
    """Implemented by bot/storage/sql/schedule.py for both backends."""
