"""Time zone names as people type them: only IANA names, never a file path or a folder of the database."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def find_zone(name: str) -> ZoneInfo | None:
    """The zone called `name` (e.g. Europe/Berlin), or None. ZoneInfo alone would read any file under the
    zone database for names such as `America` (a folder) or `zone.tab`, and raise a different error each."""
    name = name.strip()
    if name not in _known():
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError):
        return None
