"""Merged bank entries: the ids an entry absorbed (`aliases:`) keep working everywhere an id is used."""

from __future__ import annotations

import io
import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.bank import load_bank
from bot.clock import ManualClock
from bot.errors import BankError
from bot.service import StudyService
from bot.storage import open_database
from bot.tools import grade_one
from tests.conftest import FIXTURE_BANK, actor


def merge(folder: Path, absorbed: str) -> str:
    """Delete entry `absorbed` from the copied bank and list it as an alias of another entry of its topic."""
    for file in folder.glob("*.yaml"):
        data = yaml.safe_load(file.read_text())
        ids = [q["id"] for q in data["questions"]]
        if absorbed in ids:
            data["questions"] = [q for q in data["questions"] if q["id"] != absorbed]
            survivor = data["questions"][0]
            survivor["aliases"] = [absorbed]
            file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
            return str(survivor["id"])
    raise AssertionError(absorbed)


async def test_old_posts_reviews_and_grading_follow_a_merged_entry(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    path = tmp_path / "db.sqlite3"
    db = await open_database(path)
    service = StudyService(db, load_bank(FIXTURE_BANK), clock, rng=random.Random(2))
    await service.sync_bank()
    card = await service.quiz(actor("alice"), "training")
    assert card.post_id is not None
    view = await service.post_view(card.post_id)
    absorbed = view.question.id
    wrong = next(i for i in range(len(view.order)) if view.order[i] != 0)
    await service.answer_choice(actor("alice"), card.post_id, wrong)  # alice now has a review card for it
    await db.close()

    bank_dir = tmp_path / "bank"
    shutil.copytree(FIXTURE_BANK, bank_dir)
    survivor = merge(bank_dir, absorbed)
    merged = load_bank(bank_dir)
    assert absorbed not in merged.questions
    found = merged.get(absorbed)
    assert found is not None and found.id == survivor

    clock.advance(timedelta(days=3))
    db = await open_database(path)
    try:
        service = StudyService(db, merged, clock, rng=random.Random(2))
        await service.sync_bank()
        cards = await db.fetchall("SELECT question_id FROM reviews WHERE member_id = "
                                  "(SELECT id FROM members WHERE external_id = 'alice')")
        assert [r[0] for r in cards] == [survivor]
        # The old post's buttons and prompts still work, graded against the entry that absorbed it.
        result = await service.answer_text(actor("bob"), card.post_id, merged.questions[survivor].answer)
        assert result.recorded and "Correct" in result.feedback.body
        # Alice's overdue review brings back the merged entry.
        again = await service.quiz(actor("alice"))
        assert again.post_id is not None
        assert (await service.post_view(again.post_id)).question.id == survivor
    finally:
        await db.close()

    out = io.StringIO()
    assert grade_one(bank_dir, absorbed, merged.questions[survivor].answer, out) == 0
    assert json.loads(out.getvalue())["verdict"] == "correct"


def test_an_alias_may_not_repeat_an_id(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE_BANK, tmp_path / "bank")
    file = tmp_path / "bank" / "training.yaml"
    data = yaml.safe_load(file.read_text())
    data["questions"][0]["aliases"] = [data["questions"][1]["id"]]
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BankError, match=r"field 'aliases': duplicate id"):
        load_bank(tmp_path / "bank")
    data["questions"][0]["aliases"] = "Not A Slug"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BankError, match=r"field 'aliases': must be a list"):
        load_bank(tmp_path / "bank")
