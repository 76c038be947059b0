"""Reads of a SQLite database file made before the bot opens it (preflight): read-only, so checking a file
never creates, migrates or locks it for writing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def schema_version(path: Path) -> int:
    """The file's schema version (`PRAGMA user_version`), after reading its schema pages so that a file
    that is not a database, or is damaged, fails here. Raises sqlite3.Error."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=2)) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # reads the schema pages
    return version
