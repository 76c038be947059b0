"""Build neutral messages from core results. No I/O here: pure functions of their arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.actions import (
    AnswerChoice,
    AnswerInWords,
    Appeal,
    DecideAppeal,
    DecideSubmission,
    EditSubmission,
    ExportMisses,
    More,
    Practice,
    Rate,
    Reveal,
    SkipSubmission,
    WriteQuestion,
)
from bot.bank.model import DIFFICULTIES, Question
from bot.grading import Verdict
from bot.messages import Button, Field, Form, FormField, Message, Style, Visibility

LETTERS = "ABCDE"
PERIOD_TITLES = {"week": "this week", "month": "this month", "all": "all time", "30d": "last 30 days"}


@dataclass(frozen=True, slots=True)
class PostView:
    id: int
    kind: str
    question: Question
    order: tuple[int, ...]  # shown position -> option index in the bank (0 is the correct one)
    answered: int
    correct: int
    revealed: bool = False


def pts(points: int) -> str:
    return f"{points} pts"


def question_card(post: PostView, visibility: Visibility = Visibility.PUBLIC) -> Message:
    q = post.question
    kind = "Daily question" if post.kind == "daily" else "Practice question"
    lines = [f"**{q.question}**"]
    buttons: list[Button] = []
    if q.choices and post.order:
        options = q.choices.options
        lines.append("")
        for shown, index in enumerate(post.order):
            lines.append(f"**{LETTERS[shown]}.** {options[index]}")
            buttons.append(Button.of(AnswerChoice(post.id, shown), LETTERS[shown], Style.PRIMARY))
    buttons.append(Button.of(AnswerInWords(post.id), "Answer in words"))
    buttons.append(Button.of(Reveal(post.id), "Reveal"))
    return Message(
        title=f"{kind} · {q.topic} · {q.difficulty}",
        body="\n".join(lines),
        buttons=tuple(buttons),
        footer=answered_footer(post),
        kind=kind,
        visibility=visibility,
        post_id=post.id,
    )


def answered_footer(post: PostView) -> str:
    if post.answered == 0:
        return "No answers yet: be the first."
    who = "1 person has" if post.answered == 1 else f"{post.answered} people have"
    return f"{who} answered."


def answer_feedback(
    post: PostView, *, outcome: str, points: int, streak_bonus: int, streak: int,
    chosen: str | None = None, verdict: Verdict | None = None,
) -> Message:
    q = post.question
    if outcome == "unsure":
        return unsure_feedback(post, verdict)
    head = {"correct": "✅ Correct!", "partial": "🟡 Partly right.", "incorrect": "❌ Not quite."}[outcome]
    lines = [head]
    if chosen is not None and outcome != "correct" and q.choices:
        lines.append(f"You picked: {chosen}")
    if verdict is not None:
        lines.append(f"Score: {round(verdict.score * 100)}%")
        lines.extend(f"- ✔ {p}" for p in verdict.hit)
        lines.extend(f"- ✘ {p}" for p in verdict.missed if p not in verdict.misconceptions)
        lines.extend(f"- ⚠ That contradicts: {p}" for p in verdict.misconceptions)
        if verdict.note:
            lines.append(f"_{verdict.note}_")
    if post.kind == "daily" and not post.revealed:
        lines.append("The full answer is revealed later; press Reveal to see it now.")
    else:
        lines.append(f"**Answer:** {q.answer}")
    earned = f"+{pts(points)}"
    if streak_bonus:
        earned += f" (includes a {streak}-day streak bonus of {streak_bonus})"
    lines.append(earned if points else "No points this time.")
    buttons = [Button.of(More(post.id), "More")] if q.explanation else []
    if verdict is not None and outcome != "correct":
        buttons.append(Button.of(Appeal(post.id), "I think I was right"))
    return Message(body="\n".join(lines), buttons=tuple(buttons), visibility=Visibility.EPHEMERAL, post_id=post.id)


RATING_STYLES = (("again", Style.DANGER), ("hard", Style.SECONDARY), ("good", Style.PRIMARY), ("easy", Style.SUCCESS))


def unsure_feedback(post: PostView, verdict: Verdict | None) -> Message:
    """The grader cannot tell: the model answer and its key points, and the member rates themselves."""
    q = post.question
    lines = ["🤔 Not sure: I can't tell from these words whether you had it. Compare with the answer and rate "
             "yourself; your rating schedules your next review (no points either way).",
             f"**Answer:** {q.answer}"]
    if verdict is not None and verdict.note:
        lines.append(f"_{verdict.note}_")
    fields = (Field("Key points", "\n".join(f"- {k.point}" for k in q.key_points)),) if q.key_points else ()
    buttons = tuple(Button.of(Rate(post.id, r), r.capitalize(), style) for r, style in RATING_STYLES)
    return Message(body="\n".join(lines), fields=fields, buttons=buttons, visibility=Visibility.EPHEMERAL,
                   post_id=post.id)


def already_answered(post: PostView) -> Message:
    return Message(
        body="You have already answered this one; only your first answer counts.",
        visibility=Visibility.EPHEMERAL, post_id=post.id,
    )


def reveal_private(post: PostView, *, can_rate: bool) -> Message:
    q = post.question
    fields = [Field("Key points", "\n".join(f"- {k.point}" for k in q.key_points))] if q.key_points else []
    buttons: list[Button] = []
    if q.explanation:
        buttons.append(Button.of(More(post.id), "More"))
    if can_rate:
        buttons += [Button.of(Rate(post.id, rating), rating.capitalize(), style) for rating, style in RATING_STYLES]
    body = f"**{q.question}**\n\n{_correct_line(post)}{q.answer}"
    if can_rate:
        body += "\n\nHow well did you know it? Your rating schedules your next review (no points)."
    return Message(title="Answer", body=body, fields=tuple(fields), buttons=tuple(buttons),
                   footer=stats_line(post), visibility=Visibility.EPHEMERAL, post_id=post.id)


def _correct_line(post: PostView) -> str:
    q = post.question
    if not q.choices or not post.order:
        return ""
    shown = post.order.index(0)
    return f"**Correct option: {LETTERS[shown]}.** "


def stats_line(post: PostView) -> str:
    if not post.answered:
        return "Nobody has answered yet."
    return f"{post.answered} answered · {round(100 * post.correct / post.answered)}% correct"


def explanation(post: PostView) -> Message:
    q = post.question
    text = q.explanation or "There is no longer explanation for this question."
    return Message(title="More on this question", body=text, visibility=Visibility.EPHEMERAL, post_id=post.id)


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    name: str
    points: int
    correct: int
    answered: int


def leaderboard(period: str, topic_title: str | None, rows: Sequence[Standing]) -> Message:
    title = f"Leaderboard · {PERIOD_TITLES[period]}" + (f" · {topic_title}" if topic_title else "")
    if not rows:
        return Message(title=title, body="No points scored yet in this period. Answer a question to get on the board!")
    medals = {1: "🥇", 2: "🥈", 3: "🥉"}
    lines = [f"{medals.get(r.rank, f'{r.rank}.')} {r.name} · {pts(r.points)} ({r.correct}/{r.answered} correct)"
             for r in rows]
    return Message(title=title, body="\n".join(lines))


@dataclass(frozen=True, slots=True)
class MemberStats:
    name: str
    points: int
    correct: int
    answered: int
    streak: int
    best_streak: int
    due: int
    topics: Sequence[tuple[str, int, int]]  # (topic title, correct, answered)
    misses: int = 0  # questions answered wrong at least once


def stats(s: MemberStats) -> Message:
    accuracy = f"{round(100 * s.correct / s.answered)}%" if s.answered else "n/a"
    mastery = "\n".join(
        f"- {title}: {round(100 * c / a)}% of {a}" for title, c, a in s.topics
    ) or "No answers yet."
    fields = (
        Field("Points", pts(s.points), inline=True),
        Field("Accuracy", f"{accuracy} ({s.correct}/{s.answered})", inline=True),
        Field("Streak", f"{s.streak} (best {s.best_streak})", inline=True),
        Field("Reviews due", str(s.due), inline=True),
        Field("Mastery by topic", mastery),
    )
    buttons = [Button.of(Practice(), "Practice now", Style.PRIMARY)] if s.due else []
    if s.misses:
        buttons.append(Button.of(ExportMisses(), f"Export my {s.misses} misses (Anki)"))
    return Message(title=f"Stats for {s.name}", fields=fields, buttons=tuple(buttons),
                   visibility=Visibility.EPHEMERAL)


@dataclass(frozen=True, slots=True)
class OpenAppeal:
    id: int
    member: str
    question: Question
    answer: str
    score: float
    missed: tuple[str, ...]
    verdict: str = ""  # the grader's: correct, partial, incorrect or unsure


VERDICT_NAMES = {"correct": "Correct", "partial": "Partly right", "incorrect": "Not quite", "unsure": "Not sure"}


def appeals(items: list[OpenAppeal], pending: int) -> Message:
    """The admins' queue: each answer with its verdict and the question's key points, to uphold or reject."""
    if not items:
        return Message(body="No appeals are waiting.", visibility=Visibility.EPHEMERAL)
    fields = []
    buttons: list[Button] = []
    for n, item in enumerate(items, 1):
        missed = "; ".join(item.missed) or "none"
        fields.append(Field(f"#{n} · {item.member} on “{item.question.question[:150]}”",
                            f"Answer: {item.answer[:600]}\nVerdict: {VERDICT_NAMES.get(item.verdict, 'graded')} · "
                            f"Score: {round(item.score * 100)}% · missed: {missed[:300]}"))
        buttons += [Button.of(DecideAppeal(item.id, True), f"Uphold #{n}", Style.SUCCESS),
                    Button.of(DecideAppeal(item.id, False), f"Reject #{n}", Style.DANGER)]
    return Message(title=f"Appeals ({pending} waiting)",
                   body="Upholding counts the answer as correct (the boards follow) and accepts it for that "
                        "question in this community from now on.",
                   fields=tuple(fields), buttons=tuple(buttons), visibility=Visibility.EPHEMERAL)


# ----------------------------------------------------------------- questions written in chat
QUESTION_CHARS = 300  # the bank's own limits (bot/bank/checks.py) for the question and the answer
ANSWER_CHARS = 600
OPTION_CHARS = 150
MAX_WRONG = 4
TOPIC_CHARS = 40  # a topic's slug fits a topic button's id (bot/bank/loader.py MAX_TOPIC_SLUG)
REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class Draft:
    """A question as written in the form, checked."""

    question: str
    answer: str
    correct: str
    wrong: tuple[str, ...]
    topic: str  # as typed: an existing topic's slug or title, or a new topic's name
    difficulty: str


def question_form(action: WriteQuestion | EditSubmission, draft: Draft | None = None) -> Form:
    """The question form, empty or filled in with `draft` (an admin editing a queued question)."""
    d = draft
    fields = (
        FormField("question", "Question", QUESTION_CHARS, multiline=True, value=d.question if d else "",
                  placeholder="What does batch normalization normalize?"),
        FormField("answer", "Answer", ANSWER_CHARS, multiline=True, value=d.answer if d else "",
                  hint="A few sentences; written answers are graded against them.",
                  placeholder="The activations of each layer, per mini-batch."),
        FormField("correct", "Correct option", OPTION_CHARS, required=False, value=d.correct if d else "",
                  hint="Optional: with 2 to 4 wrong options it becomes a multiple-choice question."),
        FormField("wrong", "Wrong options, one per line", MAX_WRONG * (OPTION_CHARS + 1), required=False,
                  multiline=True, lines=MAX_WRONG, line_length=OPTION_CHARS, value="\n".join(d.wrong) if d else ""),
        FormField("topic", "Topic", TOPIC_CHARS, value=d.topic if d else "",
                  hint="An existing topic, or a new one of your own.", placeholder="deep-learning"),
        FormField("difficulty", "Difficulty", 6, required=False, value=d.difficulty if d else "",
                  placeholder="medium (or easy, hard)", hint="easy, medium or hard; medium when left empty."),
    )
    editing = isinstance(action, EditSubmission)
    return Form.of(action, "Edit the question" if editing else "Write a question", fields,
                   intro="" if editing else "An admin's question is published at once; a member's waits for "
                                            "an admin's review.", submit="Save" if editing else "Submit")


def reject_form(submission_id: int) -> Form:
    return Form.of(DecideSubmission(submission_id, approve=False), "Reject the question",
                   (FormField("reason", "Reason", REASON_CHARS, multiline=True,
                              hint="The author sees it privately.",
                              placeholder="The answer is wrong about ..., or it repeats ..."),),
                   submit="Reject")


@dataclass(frozen=True, slots=True)
class QueuedQuestion:
    id: int
    author: str
    topic_title: str
    draft: Draft


def quoted(text: str, limit: int = 80) -> str:
    return f"“{text if len(text) <= limit else text[:limit - 1].rstrip() + '…'}”"


def review_item(item: QueuedQuestion | None, waiting: int, note: str = "") -> Message:
    """One queued question for an admin: approve, edit, reject (with a reason) or skip."""
    lead = f"{note}\n\n" if note else ""
    if item is None:
        rest = f"{waiting} still waiting: /studybot review starts again from the first." if waiting else \
            "No questions are waiting for review."
        return Message(body=lead + rest, visibility=Visibility.EPHEMERAL)
    d = item.draft
    options = ([f"✔ {d.correct}", *(f"✘ {w}" for w in d.wrong)] if d.correct
               else ["None: answered in words only"])
    fields = (
        Field("Question", d.question),
        Field("Answer", d.answer),
        Field("Options", "\n".join(options)),
        Field("Topic", item.topic_title, inline=True),
        Field("Difficulty", d.difficulty, inline=True),
        Field("From", item.author, inline=True),
    )
    buttons = (Button.of(DecideSubmission(item.id, approve=True), "Approve", Style.SUCCESS),
               Button.of(EditSubmission(item.id), "Edit"),
               Button.of(DecideSubmission(item.id, approve=False), "Reject", Style.DANGER),
               Button.of(SkipSubmission(item.id), "Skip"))
    return Message(title=f"Review · {waiting} waiting", fields=fields, buttons=buttons,
                   body=lead + "Approve publishes it for this community only (never anywhere else).",
                   visibility=Visibility.EPHEMERAL)


def difficulty_or_default(text: str) -> str | None:
    level = text.strip().lower() or "medium"
    return level if level in DIFFICULTIES else None
