"""Operations behind `studybot db ...`, `studybot health` and `studybot discord invite-url`.

Everything here works on a database the bot may be writing to at the same moment: it never migrates,
never creates a database that is not there, and reads through SQLite's own consistency (an online backup
or one read transaction).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiosqlite
import yaml

from bot.errors import ConfigError
from bot.storage.db import SqliteDatabase
from bot.storage.migrations import LATEST_VERSION
from bot.storage.port import open_store

# Discord permission bits the bot needs, by the names the developer portal shows.
DISCORD_PERMISSIONS = {
    "View Channel": 1 << 10,
    "Send Messages": 1 << 11,
    "Embed Links": 1 << 14,
    "Attach Files": 1 << 15,
    "Use Application Commands": 1 << 31,
}
DISCORD_SCOPES = ("bot", "applications.commands")
HEALTH_MAX_AGE = 60.0  # seconds; serve() touches the file every 15 s


# ----------------------------------------------------------------- opening
def _uri(path: Path) -> str:
    """Open read-write but never create: a mistyped path is an error, not a new empty database."""
    return path.resolve().as_uri() + "?mode=rw"


def _missing(path: Path) -> ConfigError:
    return ConfigError(f"no database at {path}: set STUDYBOT_DATABASE to the bot's database file")


async def open_existing(path: Path) -> SqliteDatabase:
    """A Database handle on an existing file, without migrating it (the running bot owns the schema).
    A missing file raises sqlite3.OperationalError rather than becoming a new empty database."""
    uri = _uri(path)
    writer = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except BaseException:
        await writer.close()
        raise
    for conn in (writer, reader):
        await conn.execute("PRAGMA busy_timeout = 5000")
    return SqliteDatabase(path, writer, reader)


# ----------------------------------------------------------------- backup
@dataclass(frozen=True)
class BackupReport:
    target: Path
    size: int
    schema_version: int
    attempts: int


async def _copy(source: Path, target: Path) -> None:
    db = await open_existing(source)
    try:
        await db.backup(target)
    finally:
        await db.close()


def backup(source: Path, target: Path, *, force: bool = False) -> BackupReport:
    """Copy the live database to `target` with SQLite's online backup (one consistent snapshot, even while
    the bot writes), check the copy, then move it into place: `target` is never a half-written file.
    A directory target gets a new timestamped file; an existing file is replaced only with `force`."""
    if not source.is_file():
        raise _missing(source)
    target = target.expanduser()
    into_folder = target.is_dir()
    if into_folder:
        target = target / f"studybot-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}.sqlite3"
    else:
        _check_target(target, source, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(target)
    try:
        asyncio.run(_copy(source, partial))
        with closing(sqlite3.connect(partial)) as conn:
            # The copy is a standalone file: no -wal beside it to lose when it is moved or uploaded.
            conn.execute("PRAGMA journal_mode = DELETE")
            check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if check != ["ok"]:
                raise ConfigError(f"the backup failed its integrity check: {'; '.join(check[:5])}")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            attempts = _count(conn, "attempts")
        target = _place(partial, target, replace=force and not into_folder, numbered=into_folder)
    finally:
        partial.unlink(missing_ok=True)
        Path(f"{partial}-journal").unlink(missing_ok=True)
    return BackupReport(target, target.stat().st_size, version, attempts)


def _check_target(target: Path, database: Path | None, force: bool) -> None:
    """What studybot writes never replaces the database, a non-regular file, or (without --force) any file."""
    resolved, data = target.resolve(), database.resolve() if database else None
    if data and any(resolved == data.with_name(data.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")):
        raise ConfigError(f"{target} is the live database (or one of its files): choose another path")
    try:
        info = target.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{target} exists and is not a regular file (a link, folder, pipe or device): "
                          "choose another path; studybot never writes over it")
    if not force:
        raise ConfigError(f"{target} already exists: choose another path, or pass --force to replace it")


def _partial(target: Path) -> Path:
    """A new, empty, uniquely named file beside `target` (never an existing one)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    return Path(name)


def _place(partial: Path, target: Path, *, replace: bool, numbered: bool = False) -> Path:
    """Move the finished file to `target`: over it only when `replace`; otherwise as a new file (a hard link
    cannot overwrite, so a file that appeared meanwhile is safe), numbered -2, -3... when asked."""
    if replace:
        os.replace(partial, target)
        return target
    for n in range(1, 1000):
        candidate = target if n == 1 else target.with_name(f"{target.stem}-{n}{target.suffix}")
        try:
            os.link(partial, candidate)
        except FileExistsError:
            if not numbered:
                raise ConfigError(f"{target} appeared while the copy was made: nothing was replaced; "
                                  "run again, with --force to replace it") from None
            continue
        partial.unlink()
        return candidate
    raise ConfigError(f"too many files named like {target.name} in {target.parent}")


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # an empty or very old database
        return 0


# ----------------------------------------------------------------- export
ATTEMPT_COLUMNS = ("attempt_id", "created_at", "day", "platform", "community", "community_name", "channel",
                   "channel_name", "member", "member_name", "post_id", "post_kind", "question_id", "topic",
                   "mode", "choice", "answer_text", "score", "correct", "points")
ATTEMPTS_SQL = """
SELECT a.id, a.created_at, a.day, co.platform, co.external_id, co.name, ch.external_id, ch.name,
       m.external_id, m.display_name, a.post_id, a.kind, a.question_id, a.topic, a.mode, a.choice,
       a.answer_text, a.score, a.correct, a.points
FROM attempts a
JOIN members m ON m.id = a.member_id
JOIN communities co ON co.id = a.community_id
JOIN posts p ON p.id = a.post_id
JOIN channels ch ON ch.id = p.channel_id
ORDER BY a.id
"""
BOARD_COLUMNS = ("platform", "community", "community_name", "period", "period_key", "topic", "rank", "member",
                 "member_name", "points", "correct", "answered", "last_at")
# The boards members see: all time, each week (Monday) and each month, overall (topic '') and per topic,
# ranked as /leaderboard ranks them.
BOARDS_SQL = """
SELECT co.platform, co.external_id, co.name, t.period, t.period_key, t.topic,
       ROW_NUMBER() OVER (PARTITION BY t.community_id, t.period, t.period_key, t.topic
                          ORDER BY t.points DESC, t.correct DESC, t.last_at, t.member_id),
       m.external_id, m.display_name, t.points, t.correct, t.answered, t.last_at
FROM totals t
JOIN members m ON m.id = t.member_id
JOIN communities co ON co.id = t.community_id
WHERE t.period IN ('all', 'week', 'month')
ORDER BY co.platform, co.external_id, t.period, t.period_key, t.topic, 7
"""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Member-written text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], force: bool) -> int:
    partial = _partial(path)
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow([_cell(v) for v in row])
                count += 1
        _place(partial, path, replace=force)
    finally:
        partial.unlink(missing_ok=True)
    return count


def export_csv(source: Path, out_dir: Path, *, force: bool = False) -> list[tuple[Path, int]]:
    """attempts.csv and leaderboards.csv in `out_dir`, both read in one transaction (one moment).
    Existing files of those names are replaced only with `force` (and only regular files)."""
    if not source.is_file():
        raise _missing(source)
    _check_out_dir(out_dir, force, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(_uri(source), uri=True, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout = 5000")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != LATEST_VERSION:
            raise ConfigError(f"the database is at schema v{version} but this studybot exports v{LATEST_VERSION}: "
                              "run the same studybot version as the bot")
        conn.execute("BEGIN")
        try:
            attempts = _write_csv(out_dir / "attempts.csv", ATTEMPT_COLUMNS, conn.execute(ATTEMPTS_SQL), force)
            boards = _write_csv(out_dir / "leaderboards.csv", BOARD_COLUMNS, conn.execute(BOARDS_SQL), force)
        finally:
            conn.execute("COMMIT")
    return [(out_dir / "attempts.csv", attempts), (out_dir / "leaderboards.csv", boards)]


def export_csv_from(url: str, out_dir: Path, *, force: bool = False) -> list[tuple[Path, int]]:
    """The same two files from a PostgreSQL database, both read in one snapshot."""
    _check_out_dir(out_dir, force, None)
    attempts, boards = asyncio.run(_read_postgresql(url))
    out_dir.mkdir(parents=True, exist_ok=True)
    return [(out_dir / "attempts.csv", _write_csv(out_dir / "attempts.csv", ATTEMPT_COLUMNS, attempts, force)),
            (out_dir / "leaderboards.csv", _write_csv(out_dir / "leaderboards.csv", BOARD_COLUMNS, boards, force))]


async def _read_postgresql(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    from bot.storage.postgresql import open_postgresql

    db = await open_postgresql(url, pool_size=1)
    try:
        async with db.snapshot() as conn:
            return [tuple(r) for r in await conn.fetch(ATTEMPTS_SQL)], [tuple(r) for r in await conn.fetch(BOARDS_SQL)]
    finally:
        await db.close()


def _check_out_dir(out_dir: Path, force: bool, source: Path | None) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is not a folder: give the folder for attempts.csv and leaderboards.csv")
    for name in ("attempts.csv", "leaderboards.csv"):
        _check_target(out_dir / name, source, force)


# ----------------------------------------------------------------- accepted answers
APPEALS_PATCH_HEADER = (
    "# Answers that admins accepted by upholding an appeal, per question id: candidates for the `accept`\n"
    "# lists of questions/*.yaml (they are whole answers: keep the phrase that made each one right).\n")


def accepted_answers_patch(source: Path | str, community: str | None = None) -> tuple[str, int]:
    """A YAML patch of the accepted answers (all communities, or the one with external id `community`),
    from the SQLite file or PostgreSQL."""
    if isinstance(source, Path) and not source.is_file():
        raise _missing(source)

    async def read() -> list[Any]:
        db = await open_store(source)
        try:
            return await db.fetchall(
                "SELECT x.question_id, x.answer, co.platform, co.external_id FROM accepted_answers x "
                "JOIN communities co ON co.id = x.community_id WHERE CAST(? AS TEXT) IS NULL OR co.external_id = ? "
                "ORDER BY x.question_id, x.added_at", (community, community))
        finally:
            await db.close()

    rows = asyncio.run(read())
    patch: dict[str, dict[str, list[str]]] = {}
    for question, answer, platform, external in rows:
        entry = patch.setdefault(question, {"accept": [], "from": []})
        entry["accept"].append(answer)
        if f"{platform}:{external}" not in entry["from"]:
            entry["from"].append(f"{platform}:{external}")
    text = yaml.safe_dump(patch, sort_keys=True, allow_unicode=True, width=110) if patch else "{}\n"
    return APPEALS_PATCH_HEADER + text, len(rows)


# ----------------------------------------------------------------- health
def check_health(path: Path | None, max_age: float = HEALTH_MAX_AGE, now: float | None = None) -> tuple[bool, str]:
    """Healthy when `studybot run` touched the health file less than `max_age` seconds ago."""
    if path is None:
        return False, "STUDYBOT_HEALTH_FILE is not set, so there is no health signal to check"
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"unhealthy: no health file at {path} (studybot run is not running, or not ready yet)"
    except OSError as exc:
        return False, f"unhealthy: cannot read {path}: {exc.strerror or exc}"
    if age > max_age:
        return False, f"unhealthy: last heartbeat {age:.0f}s ago (more than {max_age:.0f}s): the bot is stuck"
    return True, f"healthy: last heartbeat {max(age, 0):.0f}s ago"


# ----------------------------------------------------------------- discord
def discord_app_id_from_token(token: str) -> str | None:
    """A bot token's first segment is the bot user's id in base64; for a bot application that id is the
    application id too."""
    first = token.strip().split(".")[0]
    if not first:
        return None
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if decoded.isdigit() and 15 <= len(decoded) <= 21 else None


def discord_permissions() -> int:
    total = 0
    for bit in DISCORD_PERMISSIONS.values():
        total |= bit
    return total


def discord_invite_url(app_id: str, guild: str = "") -> str:
    params = {"client_id": app_id, "permissions": str(discord_permissions()), "scope": " ".join(DISCORD_SCOPES)}
    if guild:
        params["guild_id"] = guild
    return "https://discord.com/oauth2/authorize?" + urlencode(params)
