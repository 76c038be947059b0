"""The four verdicts, appeals and the LLM judge in the console, typed line by line as a person at a terminal
would: buttons print as `[N] label` and `/press N` presses them, any other line answers in words, `/member`
acts as a member without admin rights and `/as` as an admin."""

from __future__ import annotations

import asyncio
import io
import os
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.console.app import ConsoleApp
from bot.actions import DecideAppeal
from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.dispatch import Press
from bot.grading import grade
from bot.judge import Grader, LlmJudge, grader_for
from bot.service import StudyService
from bot.storage import Database, open_database
from bot.tools import bank_import
from tests.conftest import FIXTURE_BANK, ROOT
from tests.fakes.openai_server import KEY, FakeOpenAI

QUESTION = "vanishing-gradients"  # the only medium question of the fixture's training topic
QUIZ = "/quiz training medium"
WRONG = "the gradients explode and grow too large in deep nets"  # a key point's reject phrasing
SHRINK = "Gradients shrink as they are multiplied back through many layers"  # that key point, verbatim
APPEAL = "I think I was right"
FALLBACK = "Graded by the offline grader (the AI judge was unavailable)."


class Terminal:
    """A console session: `say` types one line and returns what the console printed for it."""

    def __init__(self, app: ConsoleApp, out: io.StringIO) -> None:
        self.app, self.out = app, out

    async def say(self, line: str) -> str:
        start = len(self.out.getvalue())
        await self.app.handle(line)
        return self.out.getvalue()[start:]

    async def press(self, label: str, shown: str) -> str:
        """Press the button labelled `label` among those printed in `shown`."""
        return await self.say(f"/press {button(shown, label)}")


def button(shown: str, label: str) -> int:
    """The number the console printed for a button, from its `[N] label` line."""
    rows = [line for line in shown.splitlines() if re.match(r"\[\d+\] ", line)]
    assert rows, f"no buttons in:\n{shown}"
    found = {text.strip(): int(n) for n, text in re.findall(r"\[(\d+)\] ((?:(?!  \[).)+)", rows[-1])}
    assert label in found, f"no button {label!r} in {rows[-1]!r}"
    return found[label]


async def console(db: Database, bank: Bank, grader: Grader | None = None) -> Terminal:
    clock = ManualClock(datetime(2026, 11, 18, 10, tzinfo=UTC))  # a Wednesday, mid-morning
    service = StudyService(db, bank, clock, rng=random.Random(7), grader=grader)
    await service.sync_bank()
    out = io.StringIO()
    app = ConsoleApp(service, clock, out=out)
    await app.start()
    return Terminal(app, out)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(tmp_path / "console.sqlite3")
    yield db
    await db.close()


@pytest.fixture
async def term(database: Database, bank: Bank) -> Terminal:
    return await console(database, bank)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI().start()
    yield server
    await server.stop()


async def ask(term: Terminal, member: str) -> str:
    """`member` (no admin rights) asks for the medium training question and presses Answer in words."""
    assert "a member without admin rights" in await term.say(f"/member {member}")
    card = await term.say(QUIZ)
    assert "What is the vanishing gradient problem" in card
    prompt = await term.press("Answer in words", card)
    assert f"({member} pressed Answer in words)" in prompt and "Type your answer" in prompt
    return card


# ----------------------------------------------------------------- the four verdicts
async def test_the_model_answer_is_correct_with_full_points(term: Terminal, bank: Bank) -> None:
    q = bank.questions[QUESTION]
    assert grade(q, q.answer).label == "correct"
    await ask(term, "ada")
    feedback = await term.say(q.answer)
    assert feedback.startswith("(private to ada)\n✅ Correct!")
    assert all(f"- ✔ {k.point}" in feedback for k in q.key_points)
    assert "+10 pts" in feedback  # a medium practice question: half of 20
    assert APPEAL not in feedback  # nothing to appeal
    assert "ada · 10 pts (1/1 correct)" in await term.say("/leaderboard all")


async def test_partly_right_names_the_missed_key_points_and_earns_half(term: Terminal, bank: Bank) -> None:
    q = bank.questions[QUESTION]
    verdict = grade(q, SHRINK)
    assert verdict.label == "partial" and verdict.missed  # the premise: one key point of three
    await ask(term, "bo")
    feedback = await term.say(SHRINK)
    assert "🟡 Partly right." in feedback and f"- ✔ {SHRINK}" in feedback
    for missed in verdict.missed:
        assert f"- ✘ {missed}" in feedback
    assert "Early layers learn very slowly or stop learning" in feedback
    assert "+5 pts" in feedback and f"] {APPEAL}" in feedback
    assert "bo · 5 pts (0/1 correct)" in await term.say("/leaderboard all")


async def test_not_quite_names_what_the_answer_contradicts(term: Terminal, bank: Bank) -> None:
    q = bank.questions[QUESTION]
    assert grade(q, WRONG).label == "incorrect"
    card = await term.say("/member cy") + await term.say(QUIZ)
    # Typed straight under the card, without pressing Answer in words first: it answers that card.
    feedback = await term.say(WRONG)
    assert "❌ Not quite." in feedback
    assert f"- ⚠ That contradicts: {SHRINK}" in feedback
    assert "No points this time." in feedback and f"] {APPEAL}" in feedback
    assert f"Answer: {q.answer}" in feedback  # bold markup is gone in the terminal
    assert "**" not in card + feedback
    assert "cy" not in await term.say("/leaderboard all")

    # A wrong option's own words are not quite either.
    wrong_option = q.choices.wrong[0] if q.choices else ""
    assert grade(q, wrong_option).label == "incorrect"
    await term.say("/member dee")
    await term.say(QUIZ)
    again = await term.say(wrong_option)
    assert "❌ Not quite." in again and "That contradicts" in again


async def test_not_sure_shows_the_answer_and_a_self_rating_worth_no_points(tmp_path: Path) -> None:
    # An imported entry: its key points are derived from the answer's sentences, so a short on-topic answer
    # is not judged (rule 5 of bot/grading.py).
    (tmp_path / "notes.txt").write_text(
        "What does a learning rate warmup do?\tIt raises the learning rate gradually over the first steps. "
        "It avoids unstable early updates while statistics settle.\n")
    assert bank_import(tmp_path / "notes.txt", fmt=None, topic="imported", out_dir=tmp_path / "bank", force=False,
                       out=io.StringIO()) == 0
    bank = load_bank(tmp_path / "bank")
    [q] = bank.questions.values()
    answer = "It raises the learning rate slowly."
    assert grade(q, answer).label == "unsure"
    db = await open_database(tmp_path / "db.sqlite3")
    try:
        term = await console(db, bank)
        await term.say("/member ada")
        card = await term.say("/quiz imported")
        assert "What does a learning rate warmup do?" in card
        feedback = await term.say(answer)
        assert "🤔 Not sure" in feedback and f"Answer: {q.answer}" in feedback
        assert "Key points:" in feedback and all(f"- {k.point}" in feedback for k in q.key_points)
        assert "[1] Again  [2] Hard  [3] Good  [4] Easy" in feedback
        assert APPEAL not in feedback and "pts" not in feedback
        rated = await term.press("Good", feedback)
        assert "(ada pressed Good)" in rated and "Noted (good)" in rated
        assert "rated this one already" in await term.press("Easy", feedback)
        assert "ada" not in await term.say("/leaderboard all")  # a self-rating earns nothing
        stats = await term.say("/stats")
        assert "Points:\n  0 pts" in stats and "(0/1)" in stats
    finally:
        await db.close()


# ----------------------------------------------------------------- appeals
async def test_an_appeal_upheld_in_the_console_rescores_the_boards(term: Terminal, bank: Bank) -> None:
    await ask(term, "ada")
    feedback = await term.say(WRONG)
    assert "❌ Not quite." in feedback
    sent = await term.press(APPEAL, feedback)
    assert f"(ada pressed {APPEAL})" in sent and "your appeal goes to the admins" in sent
    assert "You have already appealed this answer" in await term.press(APPEAL, feedback)
    assert "⚠ Only admins can use /studybot appeals." in await term.say("/studybot appeals")

    assert "(you are now boss)" in await term.say("/as boss")
    queue = await term.say("/studybot appeals")
    assert "── Appeals (1 waiting) ──" in queue
    assert "#1 · ada on “What is the vanishing gradient problem, and how do you fix it?”" in queue
    assert f"Answer: {WRONG}" in queue
    assert "Score: 0% · missed: " in queue and "Early layers learn very slowly or stop learning" in queue
    assert "[1] Uphold #1  [2] Reject #1" in queue
    upheld = await term.press("Uphold #1", queue)
    assert "(boss pressed Uphold #1)" in upheld and "Upheld: the answer now counts as correct (10 pts)" in upheld
    assert "ada · 10 pts (1/1 correct)" in await term.say("/leaderboard all")
    assert "ada · 10 pts" in await term.say("/leaderboard week")
    assert "That appeal was already upheld." in await term.press("Uphold #1", queue)
    assert "No appeals are waiting." in await term.say("/studybot appeals")

    # The same words from another member now count: the admins accepted them for this question.
    await ask(term, "cy")
    accepted = await term.say(WRONG.capitalize() + "!")
    assert "✅ Correct!" in accepted and "Your admins accepted this answer before." in accepted
    assert "+10 pts" in accepted


async def test_a_rejected_appeal_on_a_partly_right_answer_keeps_its_points(term: Terminal) -> None:
    await ask(term, "bo")
    feedback = await term.say(SHRINK)
    assert "🟡 Partly right." in feedback
    assert "your appeal goes to the admins" in await term.press(APPEAL, feedback)
    await term.say("/as boss")
    queue = await term.say("/studybot appeals")
    assert "#1 · bo on" in queue and f"Answer: {SHRINK}" in queue and "Score: " in queue and "missed:" in queue
    rejected = await term.press("Reject #1", queue)
    assert "Rejected: the verdict stands." in rejected
    assert "bo · 5 pts (0/1 correct)" in await term.say("/leaderboard all")
    assert "No appeals are waiting." in await term.say("/studybot appeals")
    assert "That appeal was already rejected." in await term.press("Uphold #1", queue)


async def test_a_member_cannot_see_or_decide_appeals(term: Terminal) -> None:
    await ask(term, "ada")
    feedback = await term.say(WRONG)
    await term.press(APPEAL, feedback)
    await term.say("/as boss")
    queue = await term.say("/studybot appeals")
    await term.say("/member mallory")
    assert "⚠ Only admins can use /studybot appeals." in await term.say("/studybot appeals")
    # The admin's list was private to boss: mallory's /press reaches the channel's card, not an Uphold button.
    pressed = await term.say(f"/press {button(queue, 'Uphold #1')}")
    assert "(mallory pressed A)" in pressed and "Upheld" not in pressed
    # A forged press of boss's Uphold button as mallory is refused by the core.
    [uphold] = [b.action for b in term.app._private["boss"].buttons
                if isinstance(b.action, DecideAppeal) and b.action.uphold]
    await term.app._run(Press(uphold))
    assert "Only admins can use /studybot appeals." in term.out.getvalue().rsplit("(mallory pressed A)", 1)[1]
    await term.say("/as boss")
    assert "Appeals (1 waiting)" in await term.say("/studybot appeals")
    assert "ada" not in await term.say("/leaderboard all")


async def test_words_answer_the_newest_card_the_member_can_see(term: Terminal, bank: Bank) -> None:
    q = bank.questions[QUESTION]
    posted = await term.say("/advance 1d")  # Thursday's daily question
    assert "=== Daily question" in posted and "What is the vanishing gradient problem" not in posted
    await term.say("/member ada")
    assert "(private to ada)" in await term.say("/daily")  # the daily card, privately
    await term.say(QUIZ)  # then a new practice card in the channel
    feedback = await term.say(q.answer)
    assert "✅ Correct!" in feedback and f"- ✔ {SHRINK}" in feedback  # the practice question, not the daily
    # And the other way round: a private card shown after the channel's card is the one answered.
    await term.say("/member bo")
    await term.say(QUIZ)
    await term.say("/daily")
    other = await term.say(q.answer)
    assert "✅ Correct!" not in other and SHRINK not in other


# ----------------------------------------------------------------- the LLM judge
def llm_settings(fake: FakeOpenAI, timeout: float = 8.0) -> Settings:
    settings = Settings(grader="llm", llm_base_url=fake.url, llm_model="judge-model", llm_api_key=KEY,
                        llm_timeout=timeout)
    assert settings.problems(["console"]) == []
    return settings


async def test_the_judge_grades_written_answers_in_the_console(fake: FakeOpenAI, database: Database,
                                                              bank: Bank) -> None:
    grader = grader_for(llm_settings(fake))
    assert isinstance(grader, LlmJudge)
    try:
        term = await console(database, bank, grader)
        await ask(term, "ada")
        own_words = "my own words about it"  # the offline grader would say not quite; the judge says correct
        assert grade(bank.questions[QUESTION], own_words).label == "incorrect"
        feedback = await term.say(own_words)
        assert "✅ Correct!" in feedback and "\nNicely put.\n" in feedback and "+10 pts" in feedback
        assert FALLBACK not in feedback
        assert fake.headers[0]["Authorization"] == f"Bearer {KEY}" and fake.requests[0]["model"] == "judge-model"
        assert own_words in fake.requests[0]["messages"][1]["content"]

        fake.mode = "contradicted"
        await ask(term, "bo")
        reversed_ = await term.say("something else entirely")
        assert "❌ Not quite." in reversed_ and "Reversed." in reversed_
        assert f"- ⚠ That contradicts: {SHRINK}" in reversed_
        assert "your appeal goes to the admins" in await term.press(APPEAL, reversed_)
        await term.say("/as boss")
        assert "#1 · bo on" in await term.say("/studybot appeals")
        assert KEY not in term.out.getvalue()
    finally:
        await grader.close()


@pytest.mark.parametrize("mode", ["429", "500", "malformed", "schema", "slow"])
async def test_a_failing_judge_falls_back_and_says_so(fake: FakeOpenAI, database: Database, bank: Bank,
                                                      mode: str) -> None:
    if mode == "slow":
        fake.delay = 1.0
    else:
        fake.mode = mode
    grader = grader_for(llm_settings(fake, timeout=0.3))
    q = bank.questions[QUESTION]
    try:
        term = await console(database, bank, grader)
        await ask(term, "ada")
        feedback = await term.say(q.answer)
        assert len(fake.requests) == 1  # the judge was asked
        assert "✅ Correct!" in feedback and f"\n{FALLBACK}\n" in feedback  # the offline grader's own verdict
        assert "Nicely put." not in feedback
        await ask(term, "bo")
        wrong = await term.say(WRONG)
        assert "❌ Not quite." in wrong and FALLBACK in wrong and f"That contradicts: {SHRINK}" in wrong
        assert KEY not in term.out.getvalue()
    finally:
        await grader.close()


def studybot_run(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`studybot run` with no platform token: the console, reading the typed lines from stdin."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "STUDYBOT_"))}
    environ.update({"STUDYBOT_DATABASE": str(tmp_path / "console.sqlite3"), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK),
                    **env})
    return subprocess.run([sys.executable, "-m", "adapters.app", "run"], input=script, capture_output=True,
                          text=True, cwd=ROOT, env=environ, timeout=120, check=False)


async def test_studybot_run_wires_the_judge_from_the_environment(fake: FakeOpenAI, tmp_path: Path) -> None:
    env = {"STUDYBOT_GRADER": "llm", "STUDYBOT_LLM_BASE_URL": fake.url, "STUDYBOT_LLM_MODEL": "env-model",
           "STUDYBOT_LLM_API_KEY": KEY, "STUDYBOT_LLM_TIMEOUT": "2", "STUDYBOT_LOG_LEVEL": "DEBUG"}
    script = f"/member ada\n{QUIZ}\nmy own words about it\n/leaderboard all\n"
    proc = await asyncio.to_thread(studybot_run, tmp_path, script, **env)
    assert proc.returncode == 0, proc.stderr
    assert "✅ Correct!" in proc.stdout and "Nicely put." in proc.stdout
    assert "ada · 10 pts (1/1 correct)" in proc.stdout
    assert [r["model"] for r in fake.requests] == ["env-model"]
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert "LLM judge: vanishing-gradients in" in proc.stderr  # the token use, logged (asked for DEBUG)
    assert KEY not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr

    fake.mode = "500"
    proc = await asyncio.to_thread(studybot_run, tmp_path, f"/member bo\n{QUIZ}\n{WRONG}\n", **env)
    assert proc.returncode == 0, proc.stderr
    assert "❌ Not quite." in proc.stdout and FALLBACK in proc.stdout
    assert "LLM judge: the API answered HTTP 500; the offline grader answered for vanishing-gradients" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert len(fake.requests) == 2
