"""The storage port for the weekly digest's and status's reads."""

from __future__ import annotations

from typing import Protocol


class ReportsPort(Protocol):
    """Implemented by bot/storage/sql/reports.py for both backends."""
