"""The four verdicts of a written answer, appeals and the LLM judge on Discord: the real discord.py against the
fake Discord (tests/fakes/discord_server.py), driven only by what a member does there (slash commands, button
clicks, modal submits). Every test ends by checking that the fake saw nothing a real Discord would refuse.

The answers are clear-cut for the offline grader (the entry's own model answer, one key point's statement,
a `reject` phrasing); each is checked against bot.grading.grade first, so a change of the grader's tuning
shows up as that precondition, not as a puzzling Discord failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.adapter import DiscordPlatform
from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.grading import grade
from bot.judge import LlmJudge, grader_for
from bot.service import StudyService
from bot.storage import Database
from bot.tools import bank_import
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, Interaction
from tests.fakes.openai_server import KEY, FakeOpenAI
from tests.test_discord import FAST, custom_ids, footer, is_ephemeral, post_id_of, settings_for, text_of

MANAGE_SERVER = (1 << 5) | (1 << 10) | (1 << 11)  # Manage Server, View Channel, Send Messages; not Administrator

# /quiz training medium serves the fixture bank's one medium training question: a practice question worth
# 10 points when correct, 5 when partly right.
TOPIC, LEVEL, QUESTION = "training", "medium", "vanishing-gradients"
SHRINK = "Gradients shrink as they are multiplied back through many layers"
EARLY = "Early layers learn very slowly or stop learning"
FIXES = "Fixes include ReLU, residual connections, good initialisation and normalisation"
MODEL_ANSWER = ("Gradients shrink as they flow back through many layers, so early layers barely learn. Use ReLU, "
                "residual connections, careful initialisation or normalisation.")
PARTIAL = SHRINK  # one key point's own statement, nothing else
WRONG = "the gradients explode and grow too large in deep nets"  # the key point's `reject` phrasing
# An imported entry (key points derived from the answer's sentences) and a short on-topic answer: not sure.
IMPORTED = ("What does a learning rate warmup do?\tIt raises the learning rate gradually over the first steps. "
            "It avoids unstable early updates while statistics settle.\n")
UNSURE = "It raises the learning rate slowly."
FALLBACK = "_Graded by the offline grader (the AI judge was unavailable)._"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.close()


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, service: StudyService) -> AsyncIterator[DiscordPlatform]:
    """The Discord adapter serving `service`; on a clean exit, the fake must have seen no problem."""
    platform = DiscordPlatform(service, settings_for(fake), **FAST)  # type: ignore[arg-type]
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()
    assert fake.problems() == []


@pytest.fixture
async def bot(fake: FakeDiscord, service: StudyService) -> AsyncIterator[DiscordPlatform]:
    async with running(fake, service) as platform:
        yield platform


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI().start()
    yield server
    await server.stop()


@pytest.fixture
async def judged(fake: FakeDiscord, fake_openai: FakeOpenAI, db: Database, bank: Bank, clock: ManualClock,
                 request: pytest.FixtureRequest) -> AsyncIterator[tuple[DiscordPlatform, StudyService]]:
    """The adapter in front of a service that grades written answers with the LLM judge (on either backend);
    an indirect parameter adds settings."""
    extra: dict[str, Any] = getattr(request, "param", {})
    grader = grader_for(Settings(grader="llm", llm_base_url=fake_openai.url, llm_model="m", llm_api_key=KEY,
                                 **extra))
    assert isinstance(grader, LlmJudge)
    service = StudyService(db, bank, clock, rng=random.Random(7), grader=grader)
    await service.sync_bank()
    try:
        async with running(fake, service) as platform:
            yield platform, service
    finally:
        await grader.close()


# ----------------------------------------------------------------- helpers


async def quiz_card(fake: FakeDiscord, topic: str = TOPIC, difficulty: str | None = LEVEL) -> dict[str, Any]:
    options = {"topic": topic, **({"difficulty": difficulty} if difficulty else {})}
    card = await fake.reply(await fake.slash("quiz", options))
    assert not is_ephemeral(card)
    return card


async def answer_in_words(fake: FakeDiscord, card: dict[str, Any], member: dict[str, Any],
                          text: str) -> Interaction:
    """Press "Answer in words" on the card (a modal opens, never deferred) and submit `text`."""
    opened = await fake.click(card, f"sb:w:{post_id_of(card)}", member=member)
    assert (await fake.answer(opened))["type"] == 9
    return await fake.submit_modal(opened, {"answer": text})


async def written(fake: FakeDiscord, member: dict[str, Any], text: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A fresh practice card answered in words by `member`: (post id, card, the feedback they read)."""
    card = await quiz_card(fake)
    feedback = await fake.reply(await answer_in_words(fake, card, member, text))
    assert is_ephemeral(feedback)
    return post_id_of(card), card, feedback


async def board(fake: FakeDiscord, period: str = "week") -> str:
    reply = await fake.reply(await fake.slash("leaderboard", {"period": period}))
    return text_of(reply)


async def click(fake: FakeDiscord, message: dict[str, Any], custom_id: str, member: dict[str, Any]) -> dict[str, Any]:
    reply = await fake.reply(await fake.click(message, custom_id, member=member, channel_id=fake.channel_id))
    assert is_ephemeral(reply)
    return reply


def expect(bank: Bank, text: str, label: str, question: str = QUESTION) -> None:
    """Precondition: the offline grader gives `text` the verdict this test is about."""
    verdict = grade(bank.questions[question], text)
    assert verdict.label == label, f"the grader now says {verdict.label} for {text!r}: pick another example"


def assert_key_never_sent(fake: FakeDiscord, fake_openai: FakeOpenAI, *seen: str) -> None:
    """The judge used the API key, and no message, response, follow-up or edit the fake Discord received
    from the bot carries it (while they do carry what the member was shown, `seen`)."""
    assert fake_openai.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in fake_openai.headers)
    sent: list[Any] = list(fake.messages.values()) + [body for _, _, body, _ in fake.edits]
    for interaction in fake.interactions.values():
        sent += interaction.callbacks + interaction.followups
    everything = json.dumps(sent, ensure_ascii=False)
    assert all(s in everything for s in seen)
    assert KEY not in everything and KEY[-12:] not in everything


# ----------------------------------------------------------------- the four verdicts
async def test_a_correct_written_answer_earns_full_points(fake: FakeDiscord, bot: DiscordPlatform,
                                                          bank: Bank) -> None:
    expect(bank, MODEL_ANSWER, "correct")
    ada = fake.member("Ada")
    post, card, feedback = await written(fake, ada, MODEL_ANSWER)
    text = text_of(feedback)
    assert text.startswith("✅ Correct!")
    assert "Score: 100%" in text and all(f"- ✔ {p}" in text for p in (SHRINK, EARLY, FIXES))
    assert "✘" not in text and "⚠" not in text
    assert "**Answer:**" in text and "+10 pts" in text
    assert custom_ids(feedback) == [f"sb:m:{post}"]  # More, and nothing to appeal
    await fake.wait_until(lambda: any(footer(e) == "1 person has answered." for e in fake.edits_of(card["id"])))
    assert "Ada · 10 pts (1/1 correct)" in await board(fake)
    # A second answer on the same post is acknowledged, not scored again.
    again = await fake.reply(await answer_in_words(fake, card, ada, MODEL_ANSWER))
    assert again["content"] == "You have already answered this one; only your first answer counts."
    assert "Ada · 10 pts (1/1 correct)" in await board(fake, "all")


async def test_a_partly_right_answer_names_the_missed_key_points(fake: FakeDiscord, bot: DiscordPlatform,
                                                                 bank: Bank) -> None:
    expect(bank, PARTIAL, "partial")
    post, _, feedback = await written(fake, fake.member("Ben"), PARTIAL)
    text = text_of(feedback)
    assert text.startswith("🟡 Partly right.")
    assert f"- ✔ {SHRINK}" in text
    assert f"- ✘ {EARLY}" in text and f"- ✘ {FIXES}" in text
    assert "That contradicts" not in text
    assert "+5 pts" in text  # half of a medium practice question's 10
    assert custom_ids(feedback) == [f"sb:m:{post}", f"sb:p:{post}"]  # More, and "I think I was right"
    assert "Ben · 5 pts (0/1 correct)" in await board(fake)


async def test_a_not_quite_answer_names_what_it_contradicts(fake: FakeDiscord, bot: DiscordPlatform,
                                                            bank: Bank) -> None:
    expect(bank, WRONG, "incorrect")
    post, _, feedback = await written(fake, fake.member("Cal"), WRONG)
    text = text_of(feedback)
    assert text.startswith("❌ Not quite.")
    assert f"- ⚠ That contradicts: {SHRINK}" in text
    assert f"- ✘ {SHRINK}" not in text and f"- ✔ {SHRINK}" not in text  # named once, as the contradiction
    assert "No points this time." in text
    assert "I think I was right" in json.dumps(feedback["components"])
    assert f"sb:p:{post}" in custom_ids(feedback)
    assert "Cal" not in await board(fake)


async def test_not_sure_shows_the_answer_and_asks_for_a_self_rating_worth_no_points(
        fake: FakeDiscord, db: Database, clock: ManualClock, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(IMPORTED)
    assert bank_import(tmp_path / "notes.txt", fmt=None, topic="imported", out_dir=tmp_path / "bank", force=False,
                       out=io.StringIO()) == 0
    imported = load_bank(tmp_path / "bank")
    [question] = imported.questions.values()
    assert question.key_points and all(k.derived for k in question.key_points)
    verdict = grade(question, UNSURE)
    assert verdict.label == "unsure", f"the grader now says {verdict.label} for {UNSURE!r}"
    service = StudyService(db, imported, clock, rng=random.Random(1))
    await service.sync_bank()
    async with running(fake, service):
        dee = fake.member("Dee")
        card = await quiz_card(fake, "imported", None)
        post = post_id_of(card)
        feedback = await fake.reply(await answer_in_words(fake, card, dee, UNSURE))
        assert is_ephemeral(feedback)
        text = text_of(feedback)
        assert text.startswith("🤔 Not sure")
        assert "rate yourself" in text and "no points either way" in text
        assert f"**Answer:** {question.answer}" in text
        [field] = feedback["embeds"][0]["fields"]
        assert field["name"] == "Key points"
        assert all(f"- {k.point}" in field["value"] for k in question.key_points)
        assert custom_ids(feedback) == [f"sb:s:{post}:{r}" for r in ("again", "hard", "good", "easy")]
        assert not any(c.startswith("sb:p:") for c in custom_ids(feedback))  # nothing to appeal

        rated = await click(fake, feedback, f"sb:s:{post}:good", dee)
        assert rated["content"] == "Noted (good). I'll bring this one back when it's due."
        twice = await click(fake, feedback, f"sb:s:{post}:easy", dee)
        assert twice["content"] == "You rated this one already (good)."
        row = await service.db.fetchone("SELECT due, reps FROM reviews")  # one review, scheduled once
        assert row is not None and row[0] > clock.now().isoformat() and row[1] == 1
        assert "Dee" not in await board(fake) and "Dee" not in await board(fake, "all")
        stats = text_of(await fake.reply(await fake.slash("stats", member=dee)))
        assert "0 pts" in stats


# ----------------------------------------------------------------- appeals
async def test_an_appeal_upheld_by_an_admin_scores_the_answer(fake: FakeDiscord, bot: DiscordPlatform,
                                                              bank: Bank) -> None:
    expect(bank, WRONG, "incorrect")
    ada, bob = fake.member("Ada"), fake.member("Bob")
    mia = fake.member("Mia", permissions=MANAGE_SERVER)
    post, _, feedback = await written(fake, ada, WRONG)
    assert f"sb:p:{post}" in custom_ids(feedback)

    filed = await click(fake, feedback, f"sb:p:{post}", ada)
    assert filed["content"].startswith("Thanks: your appeal goes to the admins")
    again = await click(fake, feedback, f"sb:p:{post}", ada)
    assert again["content"] == "You have already appealed this answer; the admins will look at it."
    other = await click(fake, feedback, f"sb:p:{post}", bob)  # Bob never answered this post
    assert other["content"] == ("You have no answer to this question to appeal: only your own written answer "
                                "can be.")

    refused = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=bob))
    assert is_ephemeral(refused) and refused["content"] == "Only server admins can use /studybot appeals."
    queue = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=mia))
    assert is_ephemeral(queue)
    embed = queue["embeds"][0]
    assert embed["title"] == "Appeals (1 waiting)"
    [item] = embed["fields"]
    assert item["name"].startswith("#1 · Ada on “What is the vanishing gradient problem")
    assert f"Answer: {WRONG}" in item["value"] and "Score: 0%" in item["value"]
    assert all(p in item["value"] for p in (SHRINK, EARLY, FIXES))  # the key points it missed
    uphold, reject = custom_ids(queue)
    assert uphold.startswith("sb:d:") and uphold.endswith(":1") and reject == uphold[:-1] + "0"

    nope = await click(fake, queue, uphold, bob)
    assert nope["content"] == "Only server admins can use /studybot appeals."
    assert "Ada" not in await board(fake)
    upheld = await click(fake, queue, uphold, mia)
    assert upheld["content"].startswith("Upheld: the answer now counts as correct (10 pts)")
    twice = await click(fake, queue, uphold, mia)
    assert twice["content"] == "That appeal was already upheld."
    late = await click(fake, queue, reject, mia)
    assert late["content"] == "That appeal was already upheld."
    assert "Ada · 10 pts (1/1 correct)" in await board(fake)
    assert "Ada · 10 pts (1/1 correct)" in await board(fake, "all")
    empty = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=mia))
    assert empty["content"] == "No appeals are waiting."

    # The same words from another member now count as correct here.
    _, _, accepted = await written(fake, fake.member("Cy"), WRONG.capitalize() + "!")
    assert accepted["content"].startswith("✅ Correct!")
    assert "_Your admins accepted this answer before._" in accepted["content"]
    assert "Cy · 10 pts (1/1 correct)" in await board(fake)


async def test_an_appeal_rejected_keeps_the_verdict(fake: FakeDiscord, bot: DiscordPlatform, bank: Bank,
                                                    service: StudyService) -> None:
    expect(bank, WRONG, "incorrect")
    ada, mia = fake.member("Ada"), fake.member("Mia", permissions=MANAGE_SERVER)
    post, _, feedback = await written(fake, ada, WRONG)
    await click(fake, feedback, f"sb:p:{post}", ada)
    queue = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=mia))
    _, reject = custom_ids(queue)
    nope = await click(fake, queue, reject, ada)
    assert nope["content"] == "Only server admins can use /studybot appeals."
    rejected = await click(fake, queue, reject, mia)
    assert rejected["content"] == "Rejected: the verdict stands."
    twice = await click(fake, queue, reject, mia)
    assert twice["content"] == "That appeal was already rejected."
    empty = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=mia))
    assert empty["content"] == "No appeals are waiting."
    assert "Ada" not in await board(fake, "all")
    # Rejected: the answer is not accepted for anyone else either.
    _, _, same = await written(fake, fake.member("Cy"), WRONG)
    assert same["content"].startswith("❌ Not quite.")

    # A correct written answer and a multiple-choice answer have nothing to appeal.
    expect(bank, MODEL_ANSWER, "correct")
    right, _, _ = await written(fake, ada, MODEL_ANSWER)
    card = await quiz_card(fake)
    picked = await click(fake, card, f"sb:a:{post_id_of(card)}:0", ada)
    said = await click(fake, picked, f"sb:p:{right}", ada)
    assert said["content"] == "That answer already counts as correct."
    said = await click(fake, picked, f"sb:p:{post_id_of(card)}", ada)
    assert said["content"] == "Only a written answer can be appealed: answer in words first."
    assert await service.db.fetchall("SELECT id FROM appeals WHERE status = 'pending'") == []


async def test_a_partly_right_answer_upheld_earns_the_rest_of_its_points(fake: FakeDiscord, bot: DiscordPlatform,
                                                                         bank: Bank) -> None:
    expect(bank, PARTIAL, "partial")
    ben, mia = fake.member("Ben"), fake.member("Mia", permissions=MANAGE_SERVER)
    post, _, feedback = await written(fake, ben, PARTIAL)
    assert "Ben · 5 pts (0/1 correct)" in await board(fake)
    filed = await click(fake, feedback, f"sb:p:{post}", ben)
    assert filed["content"].startswith("Thanks: your appeal goes to the admins")
    queue = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=mia))
    [item] = queue["embeds"][0]["fields"]
    assert f"Answer: {PARTIAL}" in item["value"]
    assert EARLY in item["value"] and FIXES in item["value"]  # missed
    uphold, _ = custom_ids(queue)
    upheld = await click(fake, queue, uphold, mia)
    assert "(10 pts)" in upheld["content"]
    assert "Ben · 10 pts (1/1 correct)" in await board(fake)


# ----------------------------------------------------------------- the LLM judge
async def test_the_judges_verdict_reaches_the_member(fake: FakeDiscord, fake_openai: FakeOpenAI,
                                                     judged: tuple[DiscordPlatform, StudyService]) -> None:
    words = "my own words about shrinking signals"
    _, _, feedback = await written(fake, fake.member("Ada"), words)
    text = text_of(feedback)
    assert text.startswith("✅ Correct!") and "Score: 100%" in text and "_Nicely put._" in text
    assert "offline grader" not in text
    assert "Ada · 10 pts (1/1 correct)" in await board(fake)
    [request] = fake_openai.requests
    assert request["model"] == "m"
    assert f"<answer>\n{words}\n</answer>" in request["messages"][1]["content"]
    assert fake_openai.headers[0]["Authorization"] == f"Bearer {KEY}"

    fake_openai.mode = "contradicted"
    post, _, reversed_ = await written(fake, fake.member("Bo"), "gradients explode in deep nets")
    text = text_of(reversed_)
    assert text.startswith("❌ Not quite.") and f"- ⚠ That contradicts: {SHRINK}" in text and "_Reversed._" in text
    assert f"sb:p:{post}" in custom_ids(reversed_)
    assert "Bo" not in await board(fake)
    assert_key_never_sent(fake, fake_openai, "Nicely put.", "Reversed.")


@pytest.mark.parametrize("mode", ["500", "malformed"])
async def test_a_failing_judge_falls_back_to_the_offline_grader(fake: FakeDiscord, fake_openai: FakeOpenAI,
                                                                judged: tuple[DiscordPlatform, StudyService],
                                                                bank: Bank, mode: str) -> None:
    fake_openai.mode = mode
    expect(bank, MODEL_ANSWER, "correct")
    expect(bank, WRONG, "incorrect")
    _, _, right = await written(fake, fake.member("Ada"), MODEL_ANSWER)
    assert right["content"].startswith("✅ Correct!") and FALLBACK in right["content"]
    _, _, wrong = await written(fake, fake.member("Bo"), WRONG)
    assert wrong["content"].startswith("❌ Not quite.") and FALLBACK in wrong["content"]
    assert f"- ⚠ That contradicts: {SHRINK}" in wrong["content"]
    assert len(fake_openai.requests) == 2  # the judge was asked each time, and failed
    assert "Ada · 10 pts (1/1 correct)" in await board(fake) and "Bo" not in await board(fake)
    assert_key_never_sent(fake, fake_openai, FALLBACK)


async def test_a_slow_judge_is_acknowledged_first(fake: FakeDiscord, fake_openai: FakeOpenAI,
                                                  judged: tuple[DiscordPlatform, StudyService]) -> None:
    platform, _ = judged
    platform.defer_after = 0.05
    fake_openai.delay = 0.5
    card = await quiz_card(fake)
    submitted = await answer_in_words(fake, card, fake.member("Ada"), "my own words")
    first = await fake.answer(submitted)
    assert first["type"] == 5 and first["data"]["flags"] & EPHEMERAL  # "thinking...", privately
    assert submitted.answered_at is not None and submitted.answered_at - submitted.sent_at < fake_openai.delay
    reply = await fake.reply(submitted)
    assert is_ephemeral(reply) and reply["content"].startswith("✅ Correct!") and "_Nicely put._" in reply["content"]
    assert submitted.replied_at is not None and submitted.replied_at - submitted.sent_at >= fake_openai.delay
    assert len(submitted.callbacks) == 1 and len(fake_openai.requests) == 1
    assert "Ada · 10 pts (1/1 correct)" in await board(fake)
    assert_key_never_sent(fake, fake_openai, "Nicely put.")


@pytest.mark.parametrize("judged", [{"llm_timeout": 0.2}], indirect=True, ids=["timeout-0.2s"])
async def test_a_judge_that_times_out_is_acknowledged_first_and_falls_back(
        fake: FakeDiscord, fake_openai: FakeOpenAI, judged: tuple[DiscordPlatform, StudyService],
        bank: Bank) -> None:
    platform, _ = judged
    platform.defer_after = 0.05
    fake_openai.delay = 1.0  # far past the judge's timeout
    expect(bank, MODEL_ANSWER, "correct")
    card = await quiz_card(fake)
    submitted = await answer_in_words(fake, card, fake.member("Ada"), MODEL_ANSWER)
    first = await fake.answer(submitted)
    assert first["type"] == 5 and first["data"]["flags"] & EPHEMERAL
    reply = await fake.reply(submitted)
    assert is_ephemeral(reply) and reply["content"].startswith("✅ Correct!") and FALLBACK in reply["content"]
    assert "Nicely put." not in reply["content"]  # the judge's late reply was not waited for
    assert submitted.replied_at is not None and submitted.replied_at - submitted.sent_at >= 0.2
    assert "Ada · 10 pts (1/1 correct)" in await board(fake)
    assert_key_never_sent(fake, fake_openai, FALLBACK)
