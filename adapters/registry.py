"""The chat platforms studybot can serve: each entry names a platform and how it is built (importing its
library only then). The composition root, `config check` and `serve` loop over this registry; adding a
platform is one package under adapters/ and one line in PLATFORMS (its settings and their checks go in
bot/config.py, so `config check` reports them).

The console is not here: it is the terminal front end that `studybot run` falls back to, not a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.service import StudyService

if TYPE_CHECKING:
    from adapters.serve import Platform


@dataclass(frozen=True)
class PlatformEntry:
    name: str
    build: Callable[[StudyService, Settings], Platform]  # imports the platform library only when called


def _discord(service: StudyService, settings: Settings) -> Platform:
    from adapters.discord.adapter import DiscordPlatform

    return DiscordPlatform(service, settings)


def _slack(service: StudyService, settings: Settings) -> Platform:
    from adapters.slack.adapter import SlackPlatform

    return SlackPlatform(service, settings)


PLATFORMS: dict[str, PlatformEntry] = {entry.name: entry for entry in (
    PlatformEntry("discord", _discord),
    PlatformEntry("slack", _slack),
)}
NAMES = ("console", *PLATFORMS)


def problems(settings: Settings, platforms: list[str]) -> list[str]:
    """Everything in the settings that stops these platforms from starting."""
    return settings.problems(platforms, known=NAMES)


def build(name: str, service: StudyService, settings: Settings) -> Platform:
    entry = PLATFORMS.get(name)
    if entry is None:
        raise ValueError(f"unknown platform {name}")
    return entry.build(service, settings)
