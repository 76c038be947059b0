from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot import scoring
from bot.errors import InvalidInput, PermissionDenied, UnknownPost, UnknownTopic
from bot.service import Actor, StudyService
from tests.conftest import actor


async def practice_post(service: StudyService, who: str = "alice", topic: str = "training",
                        difficulty: str | None = None) -> int:
    card = await service.quiz(actor(who), topic, difficulty)
    assert card.post_id is not None
    return card.post_id


async def correct_shown(service: StudyService, post_id: int) -> int:
    view = await service.post_view(post_id)
    return view.order.index(0)


def test_award_rules() -> None:
    assert scoring.award("easy", kind="daily", outcome="correct", streak=1, practice_scored_today=False).points == 10
    assert scoring.award("hard", kind="daily", outcome="correct", streak=1, practice_scored_today=False).points == 30
    assert scoring.award("medium", kind="practice", outcome="correct", streak=9,
                         practice_scored_today=False).points == 10
    assert scoring.award("medium", kind="practice", outcome="correct", streak=1,
                         practice_scored_today=True).points == 0
    assert scoring.award("medium", kind="daily", outcome="partial", streak=1, practice_scored_today=False).points == 10
    assert scoring.award("medium", kind="daily", outcome="incorrect", streak=5,
                         practice_scored_today=False).points == 0
    # streak bonus: +2 per consecutive day after the first, capped at +10
    assert scoring.award("easy", kind="daily", outcome="correct", streak=3, practice_scored_today=False).points == 14
    assert scoring.award("easy", kind="daily", outcome="correct", streak=30, practice_scored_today=False).points == 20


def test_streak_rules() -> None:
    assert scoring.next_streak(current=4, last_daily_post=10, post_id=11, prev_daily=10) == 5
    assert scoring.next_streak(current=4, last_daily_post=9, post_id=11, prev_daily=10) == 1
    assert scoring.next_streak(current=4, last_daily_post=11, post_id=11, prev_daily=10) == 4
    assert scoring.next_streak(current=0, last_daily_post=None, post_id=1, prev_daily=None) == 1


async def test_choice_answer_scores_once(service: StudyService) -> None:
    post = await practice_post(service, difficulty="medium")
    right = await correct_shown(service, post)
    first = await service.answer_choice(actor("alice"), post, right)
    assert first.recorded and "Correct" in first.feedback.body and "+10 pts" in first.feedback.body
    again = await service.answer_choice(actor("alice"), post, right)
    assert not again.recorded and "already answered" in again.feedback.body
    board = await service.leaderboard(actor("alice"), "week")
    assert "alice · 10 pts" in board.body


async def test_wrong_choice_earns_nothing_and_schedules_review(service: StudyService, clock) -> None:  # type: ignore[no-untyped-def]
    post = await practice_post(service)
    right = await correct_shown(service, post)
    wrong = next(i for i in range(4) if i != right)
    result = await service.answer_choice(actor("bob"), post, wrong)
    assert "Not quite" in result.feedback.body and "No points" in result.feedback.body
    clock.advance(timedelta(hours=1))
    # the missed question comes back first when bob asks for a review
    card = await service.quiz(actor("bob"))
    view = await service.post_view(card.post_id)  # type: ignore[arg-type]
    assert view.question.id == (await service.post_view(post)).question.id


async def test_practice_points_once_per_question_per_day(service: StudyService) -> None:
    first = await practice_post(service, difficulty="easy")
    await service.answer_choice(actor("alice"), first, await correct_shown(service, first))
    second = await service.quiz(actor("alice"), "training", "easy")
    result = await service.answer_choice(actor("alice"), second.post_id, await correct_shown(service, second.post_id))  # type: ignore[arg-type]
    assert "No points" in result.feedback.body


async def test_free_text_answer_is_graded(service: StudyService) -> None:
    card = await service.quiz(actor("carol"), "training", "medium")
    result = await service.answer_text(actor("carol"), card.post_id,  # type: ignore[arg-type]
                                       "The gradients shrink layer by layer so early layers learn slowly; "
                                       "use ReLU and residual connections.")
    assert "Correct" in result.feedback.body
    with pytest.raises(InvalidInput):
        await service.answer_text(actor("carol"), card.post_id, "   ")  # type: ignore[arg-type]


async def test_leaderboard_ties_are_stable_and_periods_differ(service: StudyService, clock) -> None:  # type: ignore[no-untyped-def]
    for name in ("zed", "amy"):
        post = await practice_post(service, name, difficulty="easy")
        await service.answer_choice(actor(name), post, await correct_shown(service, post))
        clock.advance(timedelta(minutes=1))
    board = (await service.leaderboard(actor("amy"), "week")).body.splitlines()
    # equal points: who got there first ranks first
    assert board[0].endswith("zed · 5 pts (1/1 correct)") and board[1].endswith("amy · 5 pts (1/1 correct)")
    clock.advance(timedelta(days=40))
    assert "No points" in (await service.leaderboard(actor("amy"), "30d")).body
    assert "No points" in (await service.leaderboard(actor("amy"), "month")).body
    assert "zed" in (await service.leaderboard(actor("amy"), "all")).body
    topic_board = await service.leaderboard(actor("amy"), "all", "training")
    assert "Training neural networks" in (topic_board.title or "") and "zed" in topic_board.body
    assert "No points" in (await service.leaderboard(actor("amy"), "all", "statistics")).body


async def test_rolling_board_updates_on_write(service: StudyService) -> None:
    assert "No points" in (await service.leaderboard(actor("a"), "30d")).body  # materialises today's board
    post = await practice_post(service, "a", difficulty="hard")
    await service.answer_choice(actor("a"), post, await correct_shown(service, post))
    assert "a · 15 pts" in (await service.leaderboard(actor("a"), "30d")).body


async def test_stats(service: StudyService) -> None:
    post = await practice_post(service, "dana", difficulty="medium")
    await service.answer_choice(actor("dana"), post, await correct_shown(service, post))
    msg = await service.stats(actor("dana"))
    values = {f.name: f.value for f in msg.fields}
    assert values["Points"] == "10 pts" and values["Accuracy"].startswith("100%")
    assert "Training neural networks" in values["Mastery by topic"]


async def test_errors_are_friendly(service: StudyService) -> None:
    with pytest.raises(UnknownTopic) as err:
        await service.quiz(actor("x"), "statistcs")
    assert "statistics" in str(err.value)
    with pytest.raises(UnknownPost):
        await service.press(actor("x"), "sb:a:99999:0")
    with pytest.raises(PermissionDenied):
        await service.setup(actor("x"), time="09:00")
    with pytest.raises(InvalidInput):
        await service.setup(actor("x", admin=True), time="25:00")
    with pytest.raises(InvalidInput):
        await service.setup(actor("x", admin=True), timezone="Mars/Olympus")


async def test_200_concurrent_answers_give_one_attempt_per_member(service: StudyService) -> None:
    post = await practice_post(service, "m0")
    right = await correct_shown(service, post)
    members = [f"m{i}" for i in range(100)]
    presses = [service.answer_choice(actor(m), post, right if i % 2 else (right + 1) % 4)
               for _ in range(2) for i, m in enumerate(members)]
    results = await asyncio.gather(*presses)
    assert sum(r.recorded for r in results) == 100
    rows = await service.db.fetchall("SELECT member_id, COUNT(*) FROM attempts WHERE post_id = ? GROUP BY member_id",
                                     (post,))
    assert len(rows) == 100 and all(r[1] == 1 for r in rows)
    view = await service.post_view(post)
    assert view.answered == 100 and view.correct == 50


async def test_reveal_then_self_rating(service: StudyService) -> None:
    post = await practice_post(service, "eve")
    msg = await service.reveal(actor("eve"), post)
    assert msg.ephemeral and any(b.id.endswith(":good") for b in msg.buttons)
    rated = await service.press(actor("eve"), f"sb:s:{post}:good")
    assert "Noted" in rated.body  # type: ignore[union-attr]
    row = await service.db.fetchone("SELECT points, mode FROM attempts WHERE post_id = ?", (post,))
    assert row is not None and row["points"] == 0 and row["mode"] == "self"


async def test_mentions_never_leak(service: StudyService) -> None:
    post = await practice_post(service, "@everyone")
    await service.answer_choice(actor("@everyone"), post, await correct_shown(service, post))
    board = await service.leaderboard(actor("x"), "week")
    assert "@everyone" not in board.body and "@\u200beveryone" in board.body


async def test_a_burst_of_new_members_is_created_once_each(service: StudyService) -> None:
    first = await asyncio.gather(*(service.member_id(actor(f"m{i % 100}")) for i in range(200)))
    assert len(set(first)) == 100
    assert all(first[i] == first[i + 100] for i in range(100))
    row = await service.db.fetchone("SELECT COUNT(*) FROM members")
    assert row is not None and row[0] == 100
    renamed = await service.member_id(Actor("console", "team", "general", "m7", "Seven"))
    assert renamed == first[7]
    name = await service.db.fetchone("SELECT display_name FROM members WHERE id = ?", (renamed,))
    assert name is not None and name[0] == "Seven"
