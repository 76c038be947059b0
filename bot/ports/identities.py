"""The storage port for communities, channels and members: ids by platform id, member upserts."""

from __future__ import annotations

from typing import Protocol


class IdentitiesPort(Protocol):
    """Implemented by bot/storage/sql/identities.py for both backends."""
