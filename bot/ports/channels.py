"""The storage port for channel settings: setup, digest, pause, pool, scheduled channels."""

from __future__ import annotations

from typing import Protocol


class ChannelsPort(Protocol):
    """Implemented by bot/storage/sql/channels.py for both backends."""
