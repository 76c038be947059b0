"""The heartbeat file of `studybot run` (STUDYBOT_HEALTH_FILE), written so that it can never cost data.

The bot only ever removes or rewrites a file that is empty or holds its own marker line: a health file
pointed by mistake at the database, a config file or anything else is refused at start-up, never touched.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from bot.errors import shown_path
from bot.inputs import blocking_folder

MARKER = b"studybot heartbeat\n"
DATABASE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _ours(info: os.stat_result, path: Path) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size > len(MARKER):
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(len(MARKER) + 1) in (b"", MARKER)
    except OSError:
        return False


def problems(path: Path | None, database: Path) -> list[str]:
    """Why `path` cannot be the health file (empty when it can)."""
    if path is None:
        return []
    where = shown_path(path)
    try:
        target = path.resolve()
        data = database.resolve()
    except (OSError, RuntimeError):
        return [f"STUDYBOT_HEALTH_FILE {where} cannot be resolved (a symlink loop?): choose a plain file path"]
    if any(target == data.with_name(data.name + suffix) for suffix in DATABASE_SIDE_FILES):
        return [f"STUDYBOT_HEALTH_FILE {where} is the database (or one of its files): the bot would overwrite "
                "it; use a file of its own such as /tmp/studybot.health"]
    try:
        info = path.stat()
    except FileNotFoundError:
        return _parent_problems(path, where)
    except OSError as exc:
        return [f"STUDYBOT_HEALTH_FILE {where} cannot be checked: {exc.strerror or exc}"]
    if not _ours(info, path):
        return [f"STUDYBOT_HEALTH_FILE {where} already exists and is not a studybot health file: the bot only "
                "writes its own file there; choose a new path such as /tmp/studybot.health"]
    return []


def _parent_problems(path: Path, where: str) -> list[str]:
    folder = blocking_folder(path)
    if folder is not None:
        return [f"STUDYBOT_HEALTH_FILE {where} cannot be created: {shown_path(folder)} is not a folder the bot "
                "can write"]
    return []


def beat(path: Path) -> bool:
    """Write the heartbeat (its mtime is the signal). False, touching nothing, when the file is not ours."""
    try:
        info = path.stat()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        if not _ours(info, path):
            return False
    # Written beside it and renamed over it: a reader never sees a half-written file.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(MARKER)
    os.replace(partial, path)
    return True


def remove(path: Path | None) -> None:
    """Remove the heartbeat, only if it is ours."""
    if path is None:
        return
    with contextlib.suppress(OSError):
        if _ours(path.stat(), path):
            path.unlink()
