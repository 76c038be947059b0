"""The storage port for appeals and accepted answers."""

from __future__ import annotations

from typing import Protocol


class AppealsPort(Protocol):
    """Implemented by bot/storage/sql/appeals.py for both backends."""
