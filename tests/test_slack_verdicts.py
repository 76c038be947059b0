"""Written answers on Slack, end to end: the four verdicts, appeals and the optional LLM judge, through real
slack-bolt and slack-sdk against the fake Slack (tests/fakes/slack_server.py) and, for the judge, a fake
OpenAI-compatible server (tests/fakes/openai_server.py). Everything is driven by Slack requests: slash
commands, button presses and submissions of the "Answer in words" modal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.bank import Bank, load_bank
from bot.bank.model import Question
from bot.clock import ManualClock
from bot.config import Settings
from bot.grading import grade
from bot.judge import LlmJudge, grader_for
from bot.service import StudyService
from bot.storage import Database
from bot.tools import bank_import
from tests.fakes.openai_server import KEY, FakeOpenAI
from tests.test_slack import ADMIN, CHANNEL, Ack, Slack, all_text, button_ids, open_slack

# The fixture bank's only medium training question (so `/quiz training medium` always brings it).
QUESTION = "vanishing-gradients"
TOPIC = "training medium"
FIRST, EARLY, FIXES = (
    "Gradients shrink as they are multiplied back through many layers",
    "Early layers learn very slowly or stop learning",
    "Fixes include ReLU, residual connections, good initialisation and normalisation",
)
WRONG = "the gradients explode and grow too large in deep nets"  # the first key point's reject phrasing
OFFLINE_NOTE = "Graded by the offline grader (the AI judge was unavailable)."


# ----------------------------------------------------------------- harness
@pytest.fixture(params=["http", "socket"])
async def slack(request: pytest.FixtureRequest, service: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack(request.param, service, tmp_path) as harness:
        yield harness


@dataclass
class Written:
    post_id: int
    ts: str
    ack: Ack
    feedback: dict[str, Any]  # the chat.postEphemeral the member got
    seconds: float  # from the modal's submission to the feedback


def ids(message: dict[str, Any]) -> list[str]:
    return button_ids(message.get("blocks"))


async def card(slack: Slack, topic: str = TOPIC) -> tuple[int, str]:
    """/quiz TOPIC, then the public card: (post id, message ts). Works for a question with no options too."""
    before = len(slack.fake.to("chat.postMessage"))
    assert (await slack.command("/quiz", topic)).status == 200
    posted = (await slack.fake.wait_calls("chat.postMessage", before + 1))[before]
    assert posted["channel"] == CHANNEL
    post_id = int(next(i for i in ids(posted) if i.startswith("sb:w:")).split(":")[2])
    ts = next(ts for (ch, ts), m in slack.fake.messages.items() if ch == CHANNEL and m["blocks"] == posted["blocks"])
    return post_id, ts


async def next_ephemeral(slack: Slack, user: str, before: int, seconds: float = 5.0) -> dict[str, Any]:
    """The member's next private message after the `before` they had."""
    found = await slack.fake.wait_calls("chat.postEphemeral", before + 1, where=lambda a: a["user"] == user,
                                        seconds=seconds)
    return found[before]


async def write(slack: Slack, text: str, *, user: str, post: tuple[int, str] | None = None,
                topic: str = TOPIC, seconds: float = 5.0) -> Written:
    """Press "Answer in words" on a public card (a new one unless `post`), submit `text` in the modal and
    return the member's private feedback."""
    post_id, ts = post or await card(slack, topic)
    opened_before = len(slack.fake.to("views.open"))
    await slack.press(f"sb:w:{post_id}", user=user, message_ts=ts)
    opened = await slack.fake.wait_calls("views.open", opened_before + 1)
    view = opened[opened_before]["view"]
    assert view["callback_id"] == "sb:words" and json.loads(view["private_metadata"])["p"] == post_id
    before = len(slack.ephemerals(user))
    started = time.perf_counter()
    ack = await slack.submit(view, user=user, text=text)
    assert ack.status == 200
    feedback = await next_ephemeral(slack, user, before, seconds)
    assert feedback["channel"] == CHANNEL  # privately, in the card's channel
    return Written(post_id, ts, ack, feedback, time.perf_counter() - started)


async def board(slack: Slack, period: str = "all") -> str:
    """The public /leaderboard the channel sees."""
    before = len(slack.fake.to("chat.postMessage"))
    assert (await slack.command("/leaderboard", period)).status == 200
    posted = await slack.fake.wait_calls("chat.postMessage", before + 1)
    text = all_text(posted[before])
    assert "Leaderboard" in text
    return text


async def admin_command(slack: Slack, text: str, *, user: str) -> dict[str, Any]:
    before = len(slack.ephemerals(user))
    await slack.command("/studybot", text, user=user)
    return await next_ephemeral(slack, user, before)


async def press_for(slack: Slack, button: str, *, user: str) -> dict[str, Any]:
    """Press a button on a private message the member got, and return their next private message."""
    before = len(slack.ephemerals(user))
    ack = await slack.press(button, user=user, ephemeral=True, message_ts="1700000000.000999")
    assert ack.status == 200 and ack.seconds < 3
    return await next_ephemeral(slack, user, before)


def never_public(slack: Slack, text: str) -> None:
    """`text` went to no channel message (feedback is private)."""
    for method in ("chat.postMessage", "chat.update"):
        assert not any(text in all_text(m) for m in slack.fake.to(method)), method


# ----------------------------------------------------------------- the four verdicts
@pytest.fixture
def question(bank: Bank) -> Question:
    return bank.questions[QUESTION]


async def test_a_correct_written_answer_is_told_privately_and_scores(slack: Slack, question: Question) -> None:
    answer = question.answer  # the entry's own model answer
    assert grade(question, answer).label == "correct"
    done = await write(slack, answer, user="UCORRECT")
    text = all_text(done.feedback)
    assert done.ack.seconds < 3
    assert "✅ Correct!" in text and "Score: " in text and "+10 pts" in text  # a medium practice question
    assert f"✔ {FIRST}" in text and f"✔ {FIXES}" in text and "✘" not in text
    assert f"sb:p:{done.post_id}" not in ids(done.feedback)  # nothing to appeal
    assert not [e for e in slack.fake.to("chat.postEphemeral") if e["user"] != "UCORRECT"]
    never_public(slack, "Correct!")
    await slack.fake.wait_for(lambda: "1 person has answered." in all_text(slack.fake.messages[(CHANNEL, done.ts)]))
    assert "ucorrect · 10 pts (1/1 correct)" in await board(slack)


async def test_a_partly_right_answer_names_the_missed_key_points(slack: Slack, question: Question) -> None:
    answer = question.key_points[0].point  # one key point's statement, verbatim
    assert answer == FIRST and grade(question, answer).label == "partial"
    done = await write(slack, answer, user="UPART")
    text = all_text(done.feedback)
    assert "🟡 Partly right." in text and "+5 pts" in text  # half of a correct answer's 10
    assert f"✔ {FIRST}" in text and f"✘ {EARLY}" in text and f"✘ {FIXES}" in text
    assert "That contradicts" not in text
    assert f"sb:p:{done.post_id}" in ids(done.feedback)  # "I think I was right"
    never_public(slack, "Partly right")
    assert "upart · 5 pts (0/1 correct)" in await board(slack)


async def test_not_quite_names_what_the_answer_contradicts(slack: Slack, question: Question) -> None:
    verdict = grade(question, WRONG)
    assert verdict.label == "incorrect" and verdict.misconceptions == [FIRST]
    done = await write(slack, WRONG, user="UWRONG")
    text = all_text(done.feedback)
    assert "❌ Not quite." in text and "No points this time." in text
    assert f"⚠ That contradicts: {FIRST}" in text and f"✘ {EARLY}" in text
    assert f"✘ {FIRST}" not in text  # the contradicted point is named once, as contradicted
    assert f"sb:p:{done.post_id}" in ids(done.feedback) and "I think I was right" in text
    never_public(slack, "Not quite")
    assert "uwrong" not in await board(slack)
    # The answer was recorded: only the first attempt counts.
    again = await write(slack, question.answer, user="UWRONG", post=(done.post_id, done.ts))
    assert "only your first answer counts" in all_text(again.feedback)
    assert "uwrong" not in await board(slack)


IMPORTED_ANSWER = ("It raises the learning rate gradually over the first steps. It avoids unstable early updates "
                   "while statistics settle.")


@pytest.fixture
async def imported(db: Database, clock: ManualClock, tmp_path: Path) -> StudyService:
    """A service whose bank is one imported entry: its key points are the answer's sentences, so an on-topic
    answer short of a pass is "not sure" (bot/grading.py, rule 5)."""
    (tmp_path / "notes.txt").write_text(f"What does a learning rate warmup do?\t{IMPORTED_ANSWER}\n")
    assert bank_import(tmp_path / "notes.txt", fmt=None, topic="imported", out_dir=tmp_path / "bank", force=False,
                       out=io.StringIO()) == 0
    svc = StudyService(db, load_bank(tmp_path / "bank"), clock, rng=random.Random(1))
    await svc.sync_bank()
    return svc


@pytest.fixture(params=["http", "socket"])
async def imported_slack(request: pytest.FixtureRequest, imported: StudyService,
                         tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack(request.param, imported, tmp_path) as harness:
        yield harness


async def test_not_sure_shows_the_answer_and_self_ratings_earn_nothing(imported_slack: Slack) -> None:
    slack = imported_slack
    [entry] = slack.service.bank.questions.values()
    answer = "It raises the learning rate slowly."
    assert grade(entry, answer).label == "unsure"
    done = await write(slack, answer, user="UUNSURE", topic="imported")
    text = all_text(done.feedback)
    assert "🤔 Not sure" in text and "rate yourself" in text and "no points either way" in text
    assert "Answer:" in text and "It raises the learning rate gradually over the first steps." in text
    assert "Key points" in text and all(k.point in text for k in entry.key_points)
    assert "Correct!" not in text and "Not quite" not in text and "Partly right" not in text
    rates = [f"sb:s:{done.post_id}:{r}" for r in ("again", "hard", "good", "easy")]
    assert ids(done.feedback) == rates  # again | hard | good | easy, and no appeal
    never_public(slack, "Not sure")

    rated = await press_for(slack, rates[2], user="UUNSURE")
    assert "Noted (good)" in all_text(rated)
    twice = await press_for(slack, rates[3], user="UUNSURE")
    assert "You rated this one already (good)" in all_text(twice)
    assert "No points scored yet" in await board(slack)  # a self-rating earns nothing
    assert "uunsure" not in await board(slack, "week")
    row = await slack.service.db.fetchone("SELECT self_rating, points FROM attempts WHERE post_id = ?",
                                          (done.post_id,))
    assert row is not None and tuple(row) == ("good", 0)


# ----------------------------------------------------------------- appeals
async def appeal_a_wrong_answer(slack: Slack, user: str, text: str = WRONG) -> Written:
    done = await write(slack, text, user=user)
    assert "Not quite" in all_text(done.feedback)
    button = f"sb:p:{done.post_id}"
    assert button in ids(done.feedback)
    sent = await press_for(slack, button, user=user)
    assert "your appeal goes to the admins" in all_text(sent)
    return done


async def test_an_appeal_is_filed_listed_and_upheld_by_a_workspace_admin(slack: Slack) -> None:
    done = await appeal_a_wrong_answer(slack, "UAPPEAL")
    again = await press_for(slack, f"sb:p:{done.post_id}", user="UAPPEAL")
    assert "You have already appealed this answer" in all_text(again)

    refused = await admin_command(slack, "appeals", user="U2")  # an ordinary member
    assert "Only workspace admins and owners can use /studybot appeals" in all_text(refused)
    assert "Appeals (" not in all_text(refused) and WRONG not in all_text(refused)

    queue = await admin_command(slack, "appeals", user=ADMIN)
    text = all_text(queue)
    assert "Appeals (1 waiting)" in text
    assert "uappeal on" in text and "What is the vanishing gradient problem" in text
    assert f"Answer: {WRONG}" in text and "Score: 0%" in text
    assert all(point in text for point in (FIRST, EARLY, FIXES))  # the missed key points
    uphold, reject = ids(queue)
    assert uphold.startswith("sb:d:") and uphold.endswith(":1") and reject == uphold[:-1] + "0"

    # A member who is not an admin cannot decide it, even holding the button's id.
    nope = await press_for(slack, uphold, user="U2")
    assert "Only workspace admins and owners can use /studybot appeals" in all_text(nope)
    assert "uappeal" not in await board(slack)

    upheld = await press_for(slack, uphold, user=ADMIN)
    assert "Upheld: the answer now counts as correct (10 pts)" in all_text(upheld)
    assert "uappeal · 10 pts (1/1 correct)" in await board(slack)
    assert "uappeal · 10 pts" in await board(slack, "week")
    twice = await press_for(slack, uphold, user=ADMIN)
    assert "already upheld" in all_text(twice)
    assert "No appeals are waiting." in all_text(await admin_command(slack, "appeals", user=ADMIN))

    # From now on the same words are accepted for this question in the workspace.
    accepted = await write(slack, WRONG.capitalize() + ".", user="UNEXT")
    assert "✅ Correct!" in all_text(accepted.feedback) and "accepted this answer before" in all_text(accepted.feedback)


async def test_a_rejected_appeal_keeps_the_verdict(slack: Slack) -> None:
    await appeal_a_wrong_answer(slack, "UREJECT", "<!here> " + WRONG)
    owner = "UOWNER"  # a workspace owner decides appeals too
    queue = await admin_command(slack, "appeals", user=owner)
    assert "Appeals (1 waiting)" in all_text(queue) and WRONG in all_text(queue)
    assert "<!here>" not in all_text(queue)  # the member's words are shown to the admin, never as a mention
    _, reject = ids(queue)
    refused = await press_for(slack, reject, user="U2")
    assert "Only workspace admins and owners can use /studybot appeals" in all_text(refused)
    assert "Appeals (1 waiting)" in all_text(await admin_command(slack, "appeals", user=owner))  # still pending
    rejected = await press_for(slack, reject, user=owner)
    assert "Rejected: the verdict stands." in all_text(rejected)
    assert "No appeals are waiting." in all_text(await admin_command(slack, "appeals", user=owner))
    assert "ureject" not in await board(slack)
    twice = await press_for(slack, reject, user=owner)
    assert "already rejected" in all_text(twice)
    # The rejected words are not accepted for anyone else.
    other = await write(slack, WRONG, user="UOTHER")
    assert "❌ Not quite." in all_text(other.feedback)


# ----------------------------------------------------------------- the LLM judge
@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI().start()
    yield server
    await server.stop()


@pytest.fixture
async def judged(db: Database, bank: Bank, clock: ManualClock, openai: FakeOpenAI) -> AsyncIterator[StudyService]:
    """The service as STUDYBOT_GRADER=llm builds it, with the fake OpenAI-compatible API behind it."""
    grader = grader_for(Settings(grader="llm", llm_base_url=openai.url, llm_model="m", llm_api_key=KEY))
    assert isinstance(grader, LlmJudge)
    svc = StudyService(db, bank, clock, rng=random.Random(7), grader=grader)
    await svc.sync_bank()
    yield svc
    await grader.close()


@pytest.fixture(params=["http", "socket"])
async def judged_slack(request: pytest.FixtureRequest, judged: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack(request.param, judged, tmp_path) as harness:
        yield harness


def assert_key_never_reached_slack(slack: Slack, openai: FakeOpenAI) -> None:
    assert openai.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in openai.headers)  # it was used
    for call in slack.fake.calls:
        assert KEY not in all_text(call.args) and KEY not in call.token, call.method
    assert all(KEY not in all_text(body) for _, body in slack.fake.responses)
    assert all(KEY not in all_text(ack) for ack in slack.fake.acks.values())


async def test_the_judges_verdict_reaches_the_member(judged_slack: Slack, openai: FakeOpenAI,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    slack = judged_slack
    caplog.set_level(logging.INFO)
    words = "Deep nets multiply many small derivatives, so the signal fades before it reaches the first layers."
    done = await write(slack, words, user="UJUDGED")
    text = all_text(done.feedback)
    assert "✅ Correct!" in text and "Nicely put." in text and "+10 pts" in text
    assert "offline grader" not in text
    [sent] = openai.requests
    assert sent["model"] == "m" and words in sent["messages"][1]["content"]
    assert "ujudged · 10 pts (1/1 correct)" in await board(slack)

    openai.mode = "contradicted"
    reversed_ = await write(slack, "Gradients get bigger and bigger.", user="UREVERSED")
    text = all_text(reversed_.feedback)
    assert "❌ Not quite." in text and "Reversed." in text and f"⚠ That contradicts: {FIRST}" in text
    assert f"sb:p:{reversed_.post_id}" in ids(reversed_.feedback)  # the judge's verdict can be appealed too
    assert len(openai.requests) == 2
    assert_key_never_reached_slack(slack, openai)
    assert KEY not in caplog.text


@pytest.mark.parametrize("mode", ["500", "malformed"])
async def test_a_failing_judge_falls_back_to_the_offline_grader_and_says_so(
        judged_slack: Slack, openai: FakeOpenAI, question: Question, mode: str) -> None:
    slack = judged_slack
    openai.mode = mode
    good = await write(slack, question.answer, user="UGOOD")
    text = all_text(good.feedback)
    assert "✅ Correct!" in text and OFFLINE_NOTE in text  # the offline grader's own verdict
    wrong = await write(slack, WRONG, user="UBAD")
    text = all_text(wrong.feedback)
    assert "❌ Not quite." in text and f"That contradicts: {FIRST}" in text and OFFLINE_NOTE in text
    assert len(openai.requests) == 2  # the judge was asked each time
    assert "ugood · 10 pts" in await board(slack) and "ubad" not in await board(slack)
    assert_key_never_reached_slack(slack, openai)


@pytest.fixture
async def judged_http_slack(judged: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack("http", judged, tmp_path) as harness:
        yield harness


async def test_a_slow_judge_still_gets_the_ack_first(judged_http_slack: Slack, openai: FakeOpenAI) -> None:
    """Slack wants the HTTP answer within 3 s; the judge takes 3.5 s (under its 8 s timeout), and its verdict
    arrives afterwards."""
    slack = judged_http_slack
    openai.delay = 3.5
    post_id, ts = await card(slack)
    await slack.press(f"sb:w:{post_id}", user="USLOW", message_ts=ts)
    [opened] = await slack.fake.wait_calls("views.open")
    submitted = asyncio.get_running_loop().time()
    ack = await slack.submit(opened["view"], user="USLOW", text="my own words about shrinking gradients")
    assert ack.status == 200 and ack.seconds < 3
    assert not slack.ephemerals("USLOW")  # the ack did not wait for the verdict
    [feedback] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == "USLOW",
                                             seconds=10)
    waited = asyncio.get_running_loop().time() - submitted
    assert waited >= 3.4 and "✅ Correct!" in all_text(feedback) and "Nicely put." in all_text(feedback)
    assert len(openai.requests) == 1
    await slack.fake.wait_for(lambda: "1 person has answered." in all_text(slack.fake.messages[(CHANNEL, ts)]))
    assert_key_never_reached_slack(slack, openai)
