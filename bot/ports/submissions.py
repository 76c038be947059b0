"""The storage port for questions written in chat and their review queue."""

from __future__ import annotations

from typing import Protocol


class SubmissionsPort(Protocol):
    """Implemented by bot/storage/sql/submissions.py for both backends."""
