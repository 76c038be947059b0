"""The checks `studybot run` makes before it starts anything, shared with `studybot config check`, so
that `config check` exits 1 exactly when `run` would fail at start-up. Nothing here creates or changes a
file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot import healthfile
from bot.bank import Bank, load_bank
from bot.config import Settings
from bot.errors import BankError, shown_path
from bot.inputs import blocking_folder
from bot.storage.db import describe_failure, newer_schema
from bot.storage.migrations import LATEST_VERSION
from bot.storage.sqlite_checks import schema_version


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    bank: Bank | None = None  # loaded once here and handed to the bot, not read twice

    @property
    def ok(self) -> bool:
        return not self.problems


def preflight(settings: Settings, platforms: list[str],
              platform_problems: Callable[[Settings, list[str]], list[str]] | None = None) -> Preflight:
    """`platform_problems`: the composition root's checks for the chosen platforms (adapters.registry);
    without it, the settings' own."""
    result = Preflight((platform_problems or Settings.problems)(settings, platforms))
    if os.path.isdir(settings.questions):
        try:
            result.bank = load_bank(settings.questions)
        except BankError as exc:
            result.problems.append(str(exc))
    if not settings.database_url:  # PostgreSQL is checked when `run` connects: one line, no password
        result.problems += database_problems(settings.database)
    result.problems += healthfile.problems(settings.health_file, settings.database)
    return result


def database_problems(path: Path) -> list[str]:
    """Why the bot could not open `path` as its database, found without creating or migrating anything."""
    where = shown_path(path)
    try:
        exists = path.exists()
    except OSError as exc:
        return [f"the database path {where} cannot be checked: {exc.strerror or exc}"]
    if not exists:
        folder = blocking_folder(path)
        if folder is not None:
            return [f"the database {where} cannot be created: {shown_path(folder)} is not a folder the bot can "
                    "write; set STUDYBOT_DATABASE to a file in one"]
        return []
    if os.path.isdir(path):
        return [f"the database path {where} is a folder: set STUDYBOT_DATABASE to a file such as "
                "data/studybot.sqlite3"]
    if not os.path.isfile(path):
        return [f"the database path {where} is not a regular file: set STUDYBOT_DATABASE to a database file"]
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return [describe_failure(path, sqlite3.OperationalError("attempt to write a readonly database"))]
    try:
        version = schema_version(path)
    except sqlite3.Error as exc:
        return [describe_failure(path, exc)]
    return [newer_schema(path, version)] if version > LATEST_VERSION else []
