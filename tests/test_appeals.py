"""Honest verdicts and appeals: an answer the grader cannot judge is self-rated (no points); a contested
verdict goes to the admins, and an upheld one is re-scored on every board and accepted from then on."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.console.app import ConsoleApp
from bot.actions import Appeal, DecideAppeal, Rate, decode
from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.dispatch import Appeals, Dispatcher, Press, Reply, SubmitWords
from bot.messages import Message
from bot.service import Actor, StudyService
from bot.storage import open_database
from bot.tools import bank_import
from tests.conftest import actor

ADMIN = Actor("console", "team", "general", "boss", "Boss", is_admin=True)
WRONG = "the gradients explode and grow too large in deep nets"


def buttons(message: Message) -> list[object]:
    return [decode(b.id) for b in message.buttons]


async def points(service: StudyService, who: str) -> str:
    return (await service.leaderboard(actor(who), "all")).body


async def test_appeal_upheld_rescores_every_board_and_is_accepted_next_time(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    card = await service.quiz(actor("ada"), "training", "medium")
    post = card.post_id
    assert post is not None and service.bank.get((await service.post_view(post)).question.id) is not None
    result = await service.answer_text(actor("ada"), post, WRONG)
    assert "Not quite" in result.feedback.body and Appeal(post) in buttons(result.feedback)
    assert "ada" not in await points(service, "ada")  # no points yet: nobody is on the board

    [sent] = await dispatcher.run(actor("ada"), Press(Appeal(post)))
    assert isinstance(sent, Reply) and "goes to the admins" in sent.message.body
    [again] = await dispatcher.run(actor("ada"), Press(Appeal(post)))
    assert isinstance(again, Reply) and "already appealed" in again.message.body

    [refused] = await dispatcher.run(actor("bob"), Appeals())
    assert isinstance(refused, Reply) and "Only admins can use /studybot appeals" in refused.message.body
    [queue] = await dispatcher.run(ADMIN, Appeals())
    assert isinstance(queue, Reply) and "Appeals (1 waiting)" in (queue.message.title or "")
    assert WRONG in queue.message.fields[0].value
    uphold = next(a for a in buttons(queue.message) if isinstance(a, DecideAppeal) and a.uphold)
    [done] = await dispatcher.run(ADMIN, Press(uphold))
    assert isinstance(done, Reply) and "Upheld" in done.message.body
    assert "ada · 10 pts" in await points(service, "ada")  # a medium practice question, correct
    assert "ada · 10 pts" in (await service.leaderboard(actor("ada"), "week")).body
    assert (await service.post_view(post)).correct == 1
    [twice] = await dispatcher.run(ADMIN, Press(uphold))
    assert isinstance(twice, Reply) and "already upheld" in twice.message.body

    # The same words (case and punctuation aside) from another member are now accepted for this question.
    accepted = await service.answer_text(actor("cy"), post, WRONG.upper() + "!")
    assert "Correct" in accepted.feedback.body and "accepted this answer before" in accepted.feedback.body
    question = (await service.post_view(post)).question.id
    other = await service.community_id("console", "other-team")
    assert await service.accepted(other, question, WRONG) is None  # another community's admins did not accept it


async def test_rejected_appeals_and_what_cannot_be_appealed(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    card = await service.quiz(actor("ada"), "training", "medium")
    assert card.post_id is not None
    await service.answer_text(actor("ada"), card.post_id, WRONG)
    await dispatcher.run(actor("ada"), Press(Appeal(card.post_id)))
    [queue] = await dispatcher.run(ADMIN, Appeals())
    assert isinstance(queue, Reply)
    reject = next(a for a in buttons(queue.message) if isinstance(a, DecideAppeal) and not a.uphold)
    [done] = await dispatcher.run(ADMIN, Press(reject))
    assert isinstance(done, Reply) and "Rejected" in done.message.body
    [empty] = await dispatcher.run(ADMIN, Appeals())
    assert isinstance(empty, Reply) and "No appeals are waiting" in empty.message.body
    assert "ada" not in await points(service, "ada")

    choice = await service.quiz(actor("bo"), "training")
    assert choice.post_id is not None
    await service.answer_choice(actor("bo"), choice.post_id, 0)
    [nope] = await dispatcher.run(actor("bo"), Press(Appeal(choice.post_id)))
    assert isinstance(nope, Reply) and "Only a written answer can be appealed" in nope.message.body


async def test_unsure_verdicts_ask_for_a_self_rating_worth_no_points(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(
        "What does a learning rate warmup do?\tIt raises the learning rate gradually over the first steps. "
        "It avoids unstable early updates while statistics settle.\n")
    assert bank_import(tmp_path / "notes.txt", fmt=None, topic="imported", out_dir=tmp_path / "bank", force=False,
                       out=io.StringIO()) == 0
    clock = ManualClock(datetime(2026, 11, 18, 10, tzinfo=UTC))
    db = await open_database(tmp_path / "db.sqlite3")
    try:
        service = StudyService(db, load_bank(tmp_path / "bank"), clock, rng=random.Random(1))
        await service.sync_bank()
        card = await service.quiz(actor("ada"), "imported")
        assert card.post_id is not None
        result = await service.answer_text(actor("ada"), card.post_id, "It raises the learning rate slowly.")
        feedback = result.feedback
        assert result.recorded and "Not sure" in feedback.body and "raises the learning rate" in feedback.body
        assert [a for a in buttons(feedback) if isinstance(a, Rate)] == [
            Rate(card.post_id, r) for r in ("again", "hard", "good", "easy")]
        rated = await service.rate(actor("ada"), card.post_id, "good")
        assert "Noted (good)" in rated.body
        assert "rated this one already" in (await service.rate(actor("ada"), card.post_id, "easy")).body
        row = await db.fetchone("SELECT due, reps FROM reviews")  # the rating scheduled one review, once
        assert row is not None and row[0] > clock.now().isoformat() and row[1] == 1
        assert "ada" not in (await service.leaderboard(actor("ada"), "all")).body  # no points for self-rating
    finally:
        await db.close()


async def test_console_lists_appeals(service: StudyService, clock: ManualClock) -> None:
    out = io.StringIO()
    app = ConsoleApp(service, clock, out=out)
    await app.start()
    await app.handle("/studybot appeals")
    assert "No appeals are waiting." in out.getvalue()


@pytest.mark.parametrize("answer", [WRONG])
async def test_a_submitted_form_can_be_appealed_through_the_dispatcher(service: StudyService, bank: Bank,
                                                                       answer: str) -> None:
    dispatcher = Dispatcher(service)
    card = await service.quiz(actor("ada"), "training", "medium")
    assert card.post_id is not None
    effects = await dispatcher.run(actor("ada"), SubmitWords(card.post_id, answer))
    feedback = next(e for e in effects if isinstance(e, Reply))
    assert Appeal(card.post_id) in buttons(feedback.message)


async def test_accepted_answers_export_as_a_yaml_patch(tmp_path: Path, bank: Bank, clock: ManualClock) -> None:
    import os
    import subprocess
    import sys

    import yaml

    from tests.conftest import FIXTURE_BANK, ROOT

    db = await open_database(tmp_path / "db.sqlite3")
    try:
        service = StudyService(db, bank, clock, rng=random.Random(2))
        await service.sync_bank()
        card = await service.quiz(actor("ada"), "training", "medium")
        assert card.post_id is not None
        await service.answer_text(actor("ada"), card.post_id, WRONG)
        await service.appeal(actor("ada"), card.post_id)
        [pending] = await db.fetchall("SELECT id FROM appeals")
        await service.decide_appeal(ADMIN, pending[0], uphold=True)
        question = (await service.post_view(card.post_id)).question.id
    finally:
        await db.close()
    env = {**os.environ, "STUDYBOT_DATABASE": str(tmp_path / "db.sqlite3"), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK)}
    def export(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "adapters.app", "bank", "appeals", "export", *extra],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=True)

    every = await asyncio.to_thread(export)
    assert yaml.safe_load(every.stdout) == {question: {"accept": [WRONG], "from": ["console:team"]}}
    none = await asyncio.to_thread(export, "--community", "x")
    assert yaml.safe_load(none.stdout) == {} and "0 accepted" in none.stderr


async def test_an_appeal_on_a_question_that_left_the_bank_is_not_upheld_silently(service: StudyService,
                                                                                  clock: ManualClock) -> None:
    import dataclasses

    card = await service.quiz(actor("ada"), "training", "medium")
    assert card.post_id is not None
    await service.answer_text(actor("ada"), card.post_id, WRONG)
    await service.appeal(actor("ada"), card.post_id)
    with pytest.raises(Exception, match="You have no answer to this question to appeal"):
        await service.appeal(actor("bob"), card.post_id)  # Bob never answered it
    gone = (await service.post_view(card.post_id)).question.id
    topics = {slug: dataclasses.replace(t, questions=tuple(q for q in t.questions if q.id != gone))
              for slug, t in service.bank.topics.items()}
    later = StudyService(service.db, Bank(topics), clock, rng=random.Random(3))
    [pending] = await service.db.fetchall("SELECT id FROM appeals")
    with pytest.raises(Exception, match="no longer in this community's bank"):
        await later.decide_appeal(ADMIN, pending[0], uphold=True)
    assert (await service.db.fetchone("SELECT status FROM appeals"))[0] == "pending"  # type: ignore[index]
    assert "Rejected" in (await later.decide_appeal(ADMIN, pending[0], uphold=False)).body
