"""Questions written in chat: an admin's is published at once, a member's waits in the review queue (invisible
and never served until approved, and never to another community); only admins decide; a rejected author
hears the reason privately; limits on pending submissions and lengths; nothing pings; the channel's pool."""

from __future__ import annotations

import io
from typing import Any

from adapters.console.app import ConsoleApp
from bot.actions import DecideSubmission, EditSubmission, SkipSubmission, WriteQuestion, decode
from bot.clock import ManualClock
from bot.dispatch import AddQuestion, Dispatcher, OpenForm, Press, Quiz, Reply, Review, SetPool, Stats, SubmitForm
from bot.messages import Message
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.text import ZWSP

ADMIN = Actor("console", "team", "general", "boss", "Boss", is_admin=True)
ADA = Actor("console", "team", "general", "ada", "Ada")
BO = Actor("console", "team", "general", "bo", "Bo")
OTHER_ADMIN = Actor("console", "other-team", "general", "olga", "Olga", is_admin=True)
OTHER_MEMBER = Actor("console", "other-team", "general", "oz", "Oz")
QUESTION = "What does our feature store cache for online serving?"


def form(question: str = QUESTION, **extra: str) -> dict[str, str]:
    return {"question": question, "answer": "Features computed ahead of time, so serving reads them fast.",
            "correct": "Precomputed features", "wrong": "Raw logs\nModel weights\nLabels", "topic": "Our stack",
            "difficulty": "easy", **extra}


def replies(effects: list[Any]) -> list[Message]:
    return [e.message for e in effects if isinstance(e, Reply)]


def one(effects: list[Any]) -> Message:
    [message] = replies(effects)
    return message


def actions_of(message: Message) -> list[object]:
    return [decode(b.id) for b in message.buttons]


async def own_questions(service: StudyService, who: Actor) -> list[str]:
    bank = await service.actor_bank(who)
    return [q.question for q in bank.questions.values() if q.id not in service.bank.questions]


async def submit(dispatcher: Dispatcher, who: Actor, values: dict[str, str]) -> Message:
    return one(await dispatcher.run(who, SubmitForm(WriteQuestion(), values)))


async def test_the_form_and_an_admins_question_is_published_at_once(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    [opened] = await dispatcher.run(ADA, AddQuestion())
    assert isinstance(opened, OpenForm) and opened.form.action == WriteQuestion()
    assert [f.key for f in opened.form.fields] == ["question", "answer", "correct", "wrong", "topic", "difficulty"]
    wrong = opened.form.fields[3]
    assert wrong.lines == 4 and wrong.multiline and not wrong.required

    done = await submit(dispatcher, ADMIN, form())
    assert done.ephemeral and "Published “What does our feature store" in done.body
    assert await own_questions(service, ADA) == [QUESTION]
    card = one(await dispatcher.run(ADA, Quiz("our stack")))
    assert QUESTION in card.body and card.post_id is not None
    view = await service.post_view(card.post_id)
    assert view.question.id.startswith("c") and view.question.choices is not None
    assert (await service.answer_choice(ADA, card.post_id, view.order.index(0))).recorded
    assert await own_questions(service, OTHER_MEMBER) == []  # never served to another community


async def test_a_members_question_waits_unseen_until_approved_and_only_for_its_community(
        service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    queued = await submit(dispatcher, ADA, form())
    assert "waits for an admin's review (1 of your 3 allowed)" in queued.body
    # Invisible and never served: not in the bank, no topic for /quiz, not in another community's queue.
    assert await own_questions(service, ADA) == [] and await own_questions(service, ADMIN) == []
    assert "topic “our stack”" in one(await dispatcher.run(BO, Quiz("our stack"))).body
    assert "No questions are waiting" in one(await dispatcher.run(OTHER_ADMIN, Review())).body

    item = one(await dispatcher.run(ADMIN, Review()))
    assert item.title == "Review · 1 waiting" and item.ephemeral
    assert QUESTION in item.fields[0].value and "✔ Precomputed features" in item.fields[2].value
    submission = next(a.submission_id for a in actions_of(item) if isinstance(a, DecideSubmission))
    assert actions_of(item) == [DecideSubmission(submission, True), EditSubmission(submission),
                                DecideSubmission(submission, False), SkipSubmission(submission)]
    # The other community's admin cannot decide it either.
    nope = one(await dispatcher.run(OTHER_ADMIN, Press(DecideSubmission(submission, True))))
    assert "not in the queue" in nope.body

    approved = one(await dispatcher.run(ADMIN, Press(DecideSubmission(submission, True))))
    assert "✅ Published" in approved.body and "No questions are waiting" in approved.body
    assert await own_questions(service, BO) == [QUESTION]
    assert await own_questions(service, OTHER_ADMIN) == []
    other = one(await dispatcher.run(OTHER_MEMBER, Quiz("our stack")))
    assert "topic “our stack”" in other.body  # another community never gets it
    twice = one(await dispatcher.run(ADMIN, Press(DecideSubmission(submission, True))))
    assert "already published" in twice.body

    # The author hears once, privately, on their next command; nobody else does.
    told = replies(await dispatcher.run(ADA, Stats()))
    assert len(told) == 2 and told[1].ephemeral and "was approved" in told[1].body
    assert len(replies(await dispatcher.run(ADA, Stats()))) == 1
    assert len(replies(await dispatcher.run(BO, Stats()))) == 1


async def test_a_non_admin_cannot_approve_edit_reject_or_list(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    await submit(dispatcher, ADA, form())
    [row] = await service.db.fetchall("SELECT id FROM submissions")
    sid = int(row[0])
    for command in (Review(), Press(DecideSubmission(sid, True)), Press(DecideSubmission(sid, False)),
                    Press(EditSubmission(sid)), Press(SkipSubmission(sid)),
                    SubmitForm(EditSubmission(sid), form("Rewritten by a member?")),
                    SubmitForm(DecideSubmission(sid, False), {"reason": "no"})):
        refused = one(await dispatcher.run(BO, command))
        assert refused.body == "⚠ Only admins can use /studybot review.", command
    assert one(await dispatcher.run(BO, SetPool("own"))).body == "⚠ Only admins can use /studybot pool."
    status = await service.db.fetchall("SELECT status FROM submissions")
    assert [r[0] for r in status] == ["pending"] and await own_questions(service, ADA) == []
    # A member's own form never publishes, whatever it says.
    await submit(dispatcher, BO, form("Does a member's question publish itself?"))
    assert await own_questions(service, BO) == []


async def test_reject_asks_a_reason_that_only_the_author_sees(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    await submit(dispatcher, ADA, form())
    item = one(await dispatcher.run(ADMIN, Review()))
    reject = next(a for a in actions_of(item) if isinstance(a, DecideSubmission) and not a.approve)
    [asked] = await dispatcher.run(ADMIN, Press(reject))
    assert isinstance(asked, OpenForm) and asked.form.action == reject
    assert [f.key for f in asked.form.fields] == ["reason"]
    empty = one(await dispatcher.run(ADMIN, SubmitForm(reject, {"reason": "  "})))
    assert "Give the author a reason" in empty.body
    done = one(await dispatcher.run(ADMIN, SubmitForm(reject, {"reason": "We already cover this in caching."})))
    assert done.body.startswith("Rejected") and "No questions are waiting" in done.body

    assert len(replies(await dispatcher.run(BO, Stats()))) == 1  # not told to anyone else
    told = replies(await dispatcher.run(ADA, Quiz("statistics")))
    notice = told[-1]
    assert notice.ephemeral and "was not accepted" in notice.body and "We already cover this in caching." in notice.body
    assert len(replies(await dispatcher.run(ADA, Stats()))) == 1  # told once
    assert await own_questions(service, ADA) == []


async def test_an_admin_edits_a_queued_question_before_approving_it(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    await submit(dispatcher, ADA, form(correct="", wrong=""))
    item = one(await dispatcher.run(ADMIN, Review()))
    assert "None: answered in words only" in item.fields[2].value
    edit = next(a for a in actions_of(item) if isinstance(a, EditSubmission))
    [opened] = await dispatcher.run(ADMIN, Press(edit))
    assert isinstance(opened, OpenForm)
    prefilled = {f.key: f.value for f in opened.form.fields}
    assert prefilled["question"] == QUESTION and prefilled["topic"] == "Our stack"
    saved = one(await dispatcher.run(ADMIN, SubmitForm(edit, {**prefilled, "question": "What do we cache?"})))
    assert "Saved your edits" in saved.body and saved.fields[0].value == "What do we cache?"
    await dispatcher.run(ADMIN, Press(DecideSubmission(edit.submission_id, True)))
    assert await own_questions(service, ADA) == ["What do we cache?"]
    card, told = replies(await dispatcher.run(ADA, Quiz("our stack")))  # with the news of the approval
    assert card.post_id is not None and (await service.post_view(card.post_id)).question.choices is None
    assert "was approved" in told.body


async def test_at_most_three_pending_and_lengths_told_in_one_line(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    for n in range(3):
        assert "waits for an admin's review" in (await submit(dispatcher, ADA, form(f"Question {n}?"))).body
    fourth = await submit(dispatcher, ADA, form("Question 4?"))
    assert fourth.body == ("⚠ You already have 3 questions waiting for review (at most 3); write the next one when "
                           "the admins have decided.")
    assert "waits" in (await submit(dispatcher, BO, form("Bo's question?"))).body  # the limit is per member
    assert "Published" in (await submit(dispatcher, ADMIN, form("The admin's question?"))).body

    long = await submit(dispatcher, BO, form("x" * 301))
    assert long.body == "⚠ The question is 301 characters; keep it to 300." and "\n" not in long.body
    for values, said in ((form(answer="y" * 601), "The answer is 601 characters; keep it to 600."),
                         (form(wrong="a\nb\nc\nd\ne"), "at most 4 wrong options"),
                         (form(wrong="only one"), "give 2 to 4 wrong options"),
                         (form(correct=""), "Give the correct option too"),
                         (form(wrong="Raw logs\nraw logs"), "must all be different"),
                         (form(difficulty="wild"), "easy, medium or hard"),
                         (form(topic=""), "Give a topic"),
                         (form(topic="t" * 41), "The topic is 41 characters")):
        message = (await submit(dispatcher, BO, values)).body
        assert said in message and "\n" not in message, message
    rows = await service.db.fetchall("SELECT COUNT(*) FROM submissions WHERE author = 'bo'")
    assert rows[0][0] == 1


async def test_nothing_written_in_the_form_can_ping(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    await submit(dispatcher, ADA, form("Why does @everyone ask <@123> and <!here> about <#42>?",
                                       topic="@here topics"))
    item = one(await dispatcher.run(ADMIN, Review()))
    shown = item.fields[0].value + item.fields[3].value
    assert f"@{ZWSP}everyone" in shown and f"<{ZWSP}@123>" in shown and f"<{ZWSP}!here>" in shown
    assert "@everyone" not in shown and "<@123>" not in shown
    sid = next(a.submission_id for a in actions_of(item) if isinstance(a, DecideSubmission))
    await dispatcher.run(ADMIN, Press(DecideSubmission(sid, True)))
    bank = await service.actor_bank(ADA)
    [topic] = [t for t in bank.topics.values() if t.slug not in service.bank.topics]
    assert topic.slug == "here-topics"
    card, told = replies(await dispatcher.run(ADA, Quiz("here topics")))
    for message in (card, told):
        assert f"@{ZWSP}everyone" in message.body and "@everyone" not in message.body + (message.title or "")


async def test_the_channel_pool_chooses_shipped_own_or_both(service: StudyService, clock: ManualClock) -> None:
    dispatcher = Dispatcher(service)
    for n in range(3):
        await submit(dispatcher, ADMIN, form(f"Our question number {n}?", topic="statistics" if n else "Our stack"))
    own = set(await own_questions(service, ADA))
    assert len(own) == 3

    async def served(times: int = 12) -> set[str]:
        found = set()
        for _ in range(times):
            card = one(await dispatcher.run(ADA, Quiz()))
            assert card.post_id is not None, card.body
            found.add((await service.post_view(card.post_id)).question.question)
        return found

    both = await served(30)
    assert both & own and both - own  # the default takes both
    assert "shipped topics only" in one(await dispatcher.run(ADMIN, SetPool("shipped"))).body
    assert not await served() & own
    assert "own questions only" in one(await dispatcher.run(ADMIN, SetPool("own"))).body
    assert await served() <= own
    # A shipped topic in an own-only channel offers only the community's questions in it.
    card = one(await dispatcher.run(ADA, Quiz("statistics")))
    assert card.post_id is not None and (await service.post_view(card.post_id)).question.question in own
    assert "is shipped, own or both" in one(await dispatcher.run(ADMIN, SetPool("everything"))).body

    # The daily question follows the channel's pool too.
    await service.setup(ADMIN, time="09:00", days="daily")
    scheduler = Scheduler(service, {})
    [channel] = await service.scheduled_channels()
    assert channel.pool == "own" and "Question pool: own questions" in (await service.status(ADMIN)).body
    for _ in range(5):
        assert (await scheduler.choose_daily(channel)).question in own
    await service.set_pool(ADMIN, "shipped")
    [channel] = await service.scheduled_channels()
    for _ in range(5):
        assert (await scheduler.choose_daily(channel)).question not in own
    # Another channel of the community keeps the default.
    elsewhere = Actor("console", "team", "random", "ada", "Ada")
    assert (await service.channel_settings(await service.channel_id(elsewhere))).pool == "both"


async def test_an_own_pool_without_own_questions_says_how_to_add_one(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    await dispatcher.run(ADMIN, SetPool("own"))
    told = one(await dispatcher.run(ADA, Quiz()))
    assert "there are none yet: write one with /studybot question add" in told.body
    await service.setup(ADMIN, time="09:00", days="daily")
    [channel] = await service.scheduled_channels()
    assert (await Scheduler(service, {}).choose_daily(channel)).id in service.bank.questions  # the whole bank


async def test_a_damaged_form_is_refused_kindly(service: StudyService) -> None:
    message = one(await Dispatcher(service).run(ADA, SubmitForm(None, form())))
    assert message.body == "⚠ That form has expired; open it again."
    assert await service.db.fetchall("SELECT id FROM submissions") == []


async def test_console_form_field_by_field(service: StudyService, clock: ManualClock) -> None:
    out = io.StringIO()
    app = ConsoleApp(service, clock, out=out)
    await app.start()
    for line in ("/member ada", "/studybot question add", "x" * 301, "What is the @everyone bias?",
                 "The error from wrong assumptions.", "The error from wrong assumptions", "Noise", "Variance",
                 "-", "bias-variance", "-", "/studybot review",
                 "/as boss", "/studybot review", "/press 3", "Too close to an existing question.",
                 "/member ada", "/stats"):
        await app.handle(line)
    text = out.getvalue()
    assert "[1/6] Question (at most 300 characters)" in text
    assert "That is 301 characters; keep it to 300. Type it again." in text
    assert "[4/6] Wrong options, one per line, 1 of up to 4" in text and "2 of up to 4" in text
    assert "waits for an admin's review" in text
    assert "Only admins can use /studybot review." in text
    assert "Review · 1 waiting" in text and f"What is the @{ZWSP}everyone bias?" in text
    assert "[1/1] Reason" in text and "Rejected: the author will see your reason" in text
    assert "The admins' reason: Too close to an existing question." in text
    assert "Traceback" not in text
