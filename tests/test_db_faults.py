"""The database fault suite: whatever is wrong with the database file, `studybot run` exits non-zero within
10 seconds with one line that says what and what to do (no traceback, no hang)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from bot.storage.migrations import LATEST_VERSION
from tests.conftest import FIXTURE_BANK, ROOT
from tests.test_hardening import make_database

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder that the unprivileged user can reach too (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="studybot-faults-"))
    path.chmod(0o755)
    yield path
    for p in (path, *path.rglob("*")):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


def run_bot(database: Path, *, read_only: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    """`studybot run` with no tokens (the console), stdin closed. `read_only`: a folder the bot may not
    write. File modes do not stop root, so as root the folder is bind-mounted read-only in a mount
    namespace of the bot's own (as on a read-only volume)."""
    command = [sys.executable, "-m", "adapters.app", "run"]
    if read_only is not None and AS_ROOT:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make a read-only folder")
        command = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(read_only),
                   *command]
    elif read_only is not None:
        for path in (read_only, *read_only.rglob("*")):
            path.chmod(0o555 if path.is_dir() else 0o444)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "STUDYBOT_"))}
    environ.update({"STUDYBOT_DATABASE": str(database), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK),
                    "PYTHONPATH": str(ROOT)})
    started = time.monotonic()
    proc = subprocess.run(command, input="", capture_output=True, text=True, cwd=ROOT, env=environ, timeout=30,
                          check=False)
    return proc, time.monotonic() - started


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], seconds: float, *words: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert seconds < 10
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("studybot: ") and "Traceback" not in proc.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_read_only_database_file(folder: Path) -> None:
    db = folder / "studybot.sqlite3"
    make_database(db)
    proc, seconds = run_bot(db, read_only=folder)
    assert_one_line_failure(proc, seconds, "read-only")


def test_read_only_folder_of_a_new_database(folder: Path) -> None:
    (folder / "locked").mkdir()
    proc, seconds = run_bot(folder / "locked" / "data" / "studybot.sqlite3", read_only=folder / "locked")
    assert_one_line_failure(proc, seconds, "folder")


def test_corrupted_database(folder: Path) -> None:
    db = folder / "studybot.sqlite3"
    make_database(db)
    data = bytearray(db.read_bytes())
    data[:100] = os.urandom(100)  # the header
    db.write_bytes(bytes(data))
    proc, seconds = run_bot(db)
    assert_one_line_failure(proc, seconds, "not a usable SQLite database")


def test_truncated_database(folder: Path) -> None:
    db = folder / "studybot.sqlite3"
    make_database(db)
    with db.open("r+b") as fh:
        fh.truncate(db.stat().st_size // 3)
    proc, seconds = run_bot(db)
    assert_one_line_failure(proc, seconds, "not a usable SQLite database")


def test_not_a_database_at_all(folder: Path) -> None:
    db = folder / "notes.txt"
    db.write_text("shopping list\n" * 100)
    proc, seconds = run_bot(db)
    assert_one_line_failure(proc, seconds, "not a usable SQLite database")
    assert db.read_text() == "shopping list\n" * 100


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_database_locked_by_another_process(folder: Path, journal: str) -> None:
    db = folder / "studybot.sqlite3"
    make_database(db)
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal}")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE communities SET name = name")
        proc, seconds = run_bot(db)
        conn.execute("ROLLBACK")
    assert_one_line_failure(proc, seconds, "locked by another program")


def test_newer_schema(folder: Path) -> None:
    db = folder / "studybot.sqlite3"
    make_database(db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
        conn.commit()
    proc, seconds = run_bot(db)
    assert_one_line_failure(proc, seconds, f"schema v{LATEST_VERSION + 5}", "newer")


def test_database_path_is_a_folder(folder: Path) -> None:
    (folder / "studybot.sqlite3").mkdir()
    proc, seconds = run_bot(folder / "studybot.sqlite3")
    assert_one_line_failure(proc, seconds, "is a folder", "STUDYBOT_DATABASE")


def test_missing_parent_that_cannot_be_created(folder: Path) -> None:
    (folder / "a-file").write_text("x")
    proc, seconds = run_bot(folder / "a-file" / "data" / "studybot.sqlite3")
    assert_one_line_failure(proc, seconds, "cannot be created")


def test_missing_parent_is_created(folder: Path) -> None:
    db = folder / "new" / "deeper" / "studybot.sqlite3"
    proc, _ = run_bot(db)
    assert proc.returncode == 0, proc.stderr
    assert db.is_file()
