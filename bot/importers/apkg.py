"""Anki packages (.apkg): a zip holding the collection as SQLite; the first field of each note is asked,
the second is the answer (Basic notes), HTML turned into text. Media are ignored."""

from __future__ import annotations

import sqlite3
import tempfile
import zipfile
from contextlib import closing
from pathlib import Path

from bot.importers.model import Imported, ImportProblem, html_to_text

MAX_COLLECTION_BYTES = 256 * 1024 * 1024  # unpacked: a zip bomb is refused before it is written out
COLLECTIONS = ("collection.anki21", "collection.anki2")


def read_apkg(path: Path) -> list[Imported]:
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            name = next((n for n in COLLECTIONS if n in names), None)
            if name is None:
                if "collection.anki21b" in names:
                    raise ImportProblem("this .apkg uses Anki's newest format: export again with "
                                        "“Support older Anki versions” ticked")
                raise ImportProblem("not an Anki package: no collection inside")
            if package.getinfo(name).file_size > MAX_COLLECTION_BYTES:
                raise ImportProblem("the collection inside is too large to import")
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "collection.sqlite"
                target.write_bytes(package.read(name))
                return _notes(target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportProblem(f"not a readable .apkg (zip) file: {exc}") from None


def _notes(collection: Path) -> list[Imported]:
    try:
        with closing(sqlite3.connect(f"{collection.as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT flds FROM notes ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise ImportProblem(f"the collection inside is not readable: {exc}") from None
    items = []
    for number, (fields,) in enumerate(rows, 1):
        parts = str(fields).split("\x1f")
        if len(parts) < 2:
            raise ImportProblem(f"note {number} has one field; Basic notes (front and back) are imported")
        items.append(Imported(question=html_to_text(parts[0]), answer=html_to_text(parts[1])))
    return items
