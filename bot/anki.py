"""A member's missed questions as an Anki deck (.apkg), to keep studying them outside the chat."""

from __future__ import annotations

import html
import tempfile
from collections.abc import Sequence
from pathlib import Path

import genanki

from bot.bank.model import Question

# Fixed ids: Anki recognises the note type and deck again when a member imports a newer export.
MODEL_ID = 1_736_204_811
DECK_ID = 1_736_204_812
_MODEL = genanki.Model(
    MODEL_ID, "studybot question",
    fields=[{"name": "Question"}, {"name": "Answer"}, {"name": "Explanation"}, {"name": "Id"}],
    templates=[{"name": "Card", "qfmt": "{{Question}}",
                "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}<br><br><small>{{Explanation}}</small>"}],
)


class _Note(genanki.Note):  # type: ignore[misc]
    @property
    def guid(self) -> str:  # stable per question: re-importing updates the card instead of duplicating it
        return str(genanki.guid_for(self.fields[3]))


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def misses_deck(member: str, questions: Sequence[Question]) -> bytes:
    """The .apkg file: one Basic-like note per question (question, answer, explanation)."""
    deck = genanki.Deck(DECK_ID, f"studybot · {member}'s misses")
    for q in questions:
        deck.add_note(_Note(model=_MODEL, fields=[_html(q.question), _html(q.answer), _html(q.explanation),
                                                   q.id]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "misses.apkg"
        genanki.Package(deck).write_to_file(str(path))
        return path.read_bytes()
