"""'Export my misses': the questions a member got wrong as an Anki deck, from /stats, on every platform."""

from __future__ import annotations

import io
import re
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import pytest

from adapters.console.app import ConsoleApp
from bot.actions import ExportMisses, decode
from bot.clock import ManualClock
from bot.service import Actor, StudyService
from tests.conftest import actor


def notes_in(apkg: bytes) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(io.BytesIO(apkg)) as package:
            (Path(folder) / "c.sqlite").write_bytes(package.read("collection.anki2"))
        conn = sqlite3.connect(Path(folder) / "c.sqlite")
        try:
            return [row[0].split("\x1f")[0] for row in conn.execute("SELECT flds FROM notes")]
        finally:
            conn.close()


async def miss(service: StudyService, who: str | Actor, topic: str) -> str:
    member = actor(who) if isinstance(who, str) else who
    card = await service.quiz(member, topic)
    assert card.post_id is not None
    view = await service.post_view(card.post_id)
    await service.answer_choice(member, card.post_id, next(i for i, o in enumerate(view.order) if o != 0))
    return view.question.question


async def test_misses_export_as_an_anki_deck(service: StudyService) -> None:
    first = await miss(service, "ada", "training")
    second = await miss(service, "ada", "statistics")
    stats = await service.stats(actor("ada"))
    [export] = [b for b in stats.buttons if decode(b.id) == ExportMisses()]
    assert "2 misses" in export.label
    reply = await service.press(actor("ada"), ExportMisses())
    assert reply.file is not None and reply.file.filename.endswith(".apkg") and reply.ephemeral
    assert sorted(notes_in(reply.file.data)) == sorted([first, second])
    nothing = await service.press(actor("bo"), ExportMisses())
    assert nothing.file is None and "no missed questions" in nothing.body
    other = await service.stats(actor("ada"), "bo", "Bo")  # someone else's stats offer no export
    assert all(decode(b.id) != ExportMisses() for b in other.buttons)


async def test_console_saves_the_deck_without_overwriting(service: StudyService, clock: ManualClock,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studybot-misses.apkg").write_text("someone's file")
    out = io.StringIO()
    app = ConsoleApp(service, clock, out=out, user="ada")
    await app.start()
    await miss(service, app.actor, "training")
    await app.handle("/stats")
    found = re.search(r"\[(\d+)\] Export my 1 misses", out.getvalue())
    assert found is not None, out.getvalue()
    await app.handle(f"/press {found.group(1)}")
    assert (tmp_path / "studybot-misses.apkg").read_text() == "someone's file"
    saved = tmp_path / "studybot-misses-2.apkg"
    assert saved.is_file() and f"[file saved: {saved}]" in out.getvalue()
    assert len(notes_in(saved.read_bytes())) == 1
