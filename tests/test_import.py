"""`studybot bank import`: every format from sample files the tests write, broken inputs with clear errors
that import nothing, and re-imports that update in place."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import genanki
import pytest

from bot.bank import load_bank
from bot.clock import ManualClock
from bot.importers import MARKER, detect, read_file
from bot.service import StudyService
from bot.storage import open_database
from bot.tools import bank_import
from tests.conftest import actor

CSV = """question,answer,correct,wrong1,wrong2,wrong3,topic,difficulty,key_points
What does L1 regularization encourage?,Sparse weights.,Sparse weights,Larger weights,Dense weights,Smaller batches,,easy,sparse weights;weights become zero
"What is overfitting, in one line?","Fitting noise, so the model generalizes poorly.",,,,,,medium,
"""
ANKI = "#separator:tab\n#html:true\n#deck:ML\nWhat is <b>dropout</b>?\tRandomly zeroes units in training.<br>It regularizes.\n"
QUIZLET = "Bias\tError from wrong assumptions\nVariance\tError from sensitivity to the training set\n"
OPENTDB = json.dumps({"response_code": 0, "results": [{
    "category": "Science: Computers", "type": "multiple", "difficulty": "hard",
    "question": "Which activation outputs values in (0, 1)? &quot;Classic&quot; choice.",
    "correct_answer": "Sigmoid", "incorrect_answers": ["ReLU", "Tanh", "Leaky ReLU"]}]})
RED = "AUTHOR: someone\nWhat does CNN stand for?:\n- Convolutional neural network\n- convnet\n"
GIFT = """// a comment
$CATEGORY: ml
::q1:: Which norm gives sparse solutions? {=L1 ~L2 ~L-infinity ~Frobenius}

What is 2 \\+ 2 in words? {=four =4}

Gradient descent always finds the global minimum. {F}
"""


def imported(tmp_path: Path, name: str, text: str | bytes, **kwargs: str) -> dict[str, list[dict[str, object]]]:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_file(path, kwargs.get("fmt"), kwargs.get("topic")).topics


@pytest.mark.parametrize(("name", "text", "fmt", "questions"), [
    ("team.csv", CSV, "csv", 2), ("team.tsv", CSV.replace(",", "\t"), "tsv", 2), ("deck.txt", ANKI, "anki", 1),
    ("set.txt", QUIZLET, "quizlet", 2), ("trivia.json", OPENTDB, "opentdb", 1), ("red.yaml", RED, "red", 1),
    ("quiz.gift", GIFT, "gift", 3),
])
def test_each_text_format(tmp_path: Path, name: str, text: str, fmt: str, questions: int) -> None:
    assert detect(tmp_path / name, text) == fmt
    topics = imported(tmp_path, name, text)
    entries = [e for v in topics.values() for e in v]
    assert len(entries) == questions
    assert all(e["question"] and e["answer"] and e["key_points"] for e in entries)


def test_what_each_format_carries(tmp_path: Path) -> None:
    [csv_one, csv_two] = imported(tmp_path, "team.csv", CSV)["team"]
    assert csv_one["choices"] == {"correct": "Sparse weights", "wrong": ["Larger weights", "Dense weights",
                                                                          "Smaller batches"]}
    assert csv_one["key_points"] == [{"point": "sparse weights"}, {"point": "weights become zero"}]
    assert "choices" not in csv_two and all(k["derived"] for k in csv_two["key_points"])  # type: ignore[union-attr]
    [anki] = imported(tmp_path, "deck.txt", ANKI)["deck"]
    assert anki["question"] == "What is dropout?" and anki["answer"] == "Randomly zeroes units in training.\nIt regularizes."
    [tdb] = imported(tmp_path, "trivia.json", OPENTDB)["trivia"]
    assert tdb["question"] == 'Which activation outputs values in (0, 1)? "Classic" choice.'
    assert tdb["difficulty"] == "hard" and tdb["choices"]["wrong"] == ["ReLU", "Tanh", "Leaky ReLU"]  # type: ignore[index]
    [red] = imported(tmp_path, "red.yaml", RED)["red"]
    assert red["key_points"][0]["accept"] == ["convnet"]  # type: ignore[index]
    mc, short, truth = imported(tmp_path, "quiz.gift", GIFT)["quiz"]
    assert mc["choices"]["correct"] == "L1" and len(mc["choices"]["wrong"]) == 3  # type: ignore[index]
    assert short["question"] == "What is 2 \\+ 2 in words?" and short["key_points"][0]["accept"] == ["4"]  # type: ignore[index]
    assert truth["answer"] == "False"


def test_anki_package_built_with_genanki(tmp_path: Path) -> None:
    model = genanki.Model(1607392319, "Basic", fields=[{"name": "Front"}, {"name": "Back"}],
                          templates=[{"name": "Card", "qfmt": "{{Front}}", "afmt": "{{Back}}"}])
    deck = genanki.Deck(2059400110, "ML interviews")
    for front, back in (("What is <i>batch norm</i>?", "Normalizes activations per mini-batch."),
                        ("Why use ReLU?", "Cheap, and it does not saturate for positive inputs.")):
        deck.add_note(genanki.Note(model=model, fields=[front, back]))
    genanki.Package(deck).write_to_file(str(tmp_path / "ml.apkg"))
    [first, second] = read_file(tmp_path / "ml.apkg").topics["ml"]
    assert first["question"] == "What is batch norm?" and second["answer"].startswith("Cheap")  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "data", "message", "line"), [
    ("bad.csv", 'question,answer\n"unclosed,quote\nnext,row\n', "not valid CSV", 2),
    ("bad.csv", "question,answer,colour\nq,a,red\n", "unknown columns: colour", 1),
    ("bad.gift", "What? {=yes ~no\n", "answers in { }", 1),
    ("bad.gift", "::t:: No braces here =yes\n\nOther? {=x}\n", "needs its answers in { }", 1),
    ("latin.csv", b"question,answer\ncaf\xe9,x\n", "not valid UTF-8", 2),
    ("empty.csv", b"", "the file is empty", 1),
    ("big.txt", b"q\ta\n" * (3 * 1024 * 1024), "at most", None),
    ("bad.csv", "question,answer,difficulty\nWhat?,It.,extreme\n", "must be one of easy, medium, hard", 2),
])
def test_broken_inputs_name_the_line_and_import_nothing(tmp_path: Path, name: str, data: str | bytes,
                                                        message: str, line: int | None) -> None:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    out = io.StringIO()
    assert bank_import(path, fmt=None, topic=None, out_dir=tmp_path / "out", force=False, out=out) == 1
    text = out.getvalue()
    assert message in text and "nothing was imported" in text
    if line is not None:
        assert f"{name}:{line}" in text
    assert not (tmp_path / "out").exists()


def test_reimport_updates_in_place_and_never_overwrites_other_files(tmp_path: Path) -> None:
    source, out_dir = tmp_path / "team.csv", tmp_path / "bank"
    source.write_text(CSV)
    assert bank_import(source, fmt=None, topic="our-loop", out_dir=out_dir, force=False, out=io.StringIO()) == 0
    source.write_text(CSV.replace("Sparse weights.,", "Sparse weights: many are exactly zero.,"))
    out = io.StringIO()
    assert bank_import(source, fmt=None, topic="our-loop", out_dir=out_dir, force=False, out=out) == 0
    assert "0 new, 2 updated" in out.getvalue()
    bank = load_bank(out_dir)
    assert len(bank) == 2
    assert bank.questions["what-does-l1-regularization-encourage"].answer.startswith("Sparse weights: many")
    assert (out_dir / "our-loop.yaml").read_text().startswith(MARKER)
    mine = out_dir / "mine.yaml"
    mine.write_text("topic: mine\ntitle: Mine\nquestions: []\n")
    out = io.StringIO()
    assert bank_import(source, fmt=None, topic="mine", out_dir=out_dir, force=False, out=out) == 1
    assert "--force" in out.getvalue() and mine.read_text().startswith("topic: mine")


async def test_a_question_without_choices_is_answered_in_words(tmp_path: Path) -> None:
    (tmp_path / "set.txt").write_text(QUIZLET)
    assert bank_import(tmp_path / "set.txt", fmt=None, topic=None, out_dir=tmp_path / "bank", force=False,
                       out=io.StringIO()) == 0
    db = await open_database(tmp_path / "db.sqlite3")
    try:
        service = StudyService(db, load_bank(tmp_path / "bank"), ManualClock(datetime(2026, 11, 18, tzinfo=UTC)),
                               rng=random.Random(1))
        await service.sync_bank()
        card = await service.quiz(actor("ada"), "set")
        assert [b.label for b in card.buttons] == ["Answer in words", "Reveal"]
        assert card.post_id is not None
        result = await service.answer_text(actor("ada"), card.post_id, "error from wrong assumptions")
        assert result.recorded
    finally:
        await db.close()


def test_an_out_folder_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "team.csv").write_text(CSV)
    (tmp_path / "bank").write_text("a file, not a folder")
    out = io.StringIO()
    assert bank_import(tmp_path / "team.csv", fmt=None, topic=None, out_dir=tmp_path / "bank", force=False,
                       out=out) == 1
    assert "--out" in out.getvalue() and "nothing was written" in out.getvalue()
    assert (tmp_path / "bank").read_text() == "a file, not a folder"
