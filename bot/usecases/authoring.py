"""Questions written in chat and each channel's question pool.

`/studybot question add` opens a form. An admin's question is published at once as a community question
(served only to that community); a member's waits in the review queue (at most MAX_PENDING each), invisible to
everyone but the community's admins, who see it one at a time in `/studybot review` and approve, edit or reject
it with a reason. The author is told the decision privately on their next command (`notices`).

Storage goes through the submissions and questions ports (bot/storage/sql/submissions.py, questions.py);
the transactions that must hold together (publishing, approving) are opened here and passed down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot import views
from bot.actions import EditSubmission, WriteQuestion
from bot.bank.loader import check_question
from bot.bank.model import Bank
from bot.community import served_id
from bot.domain import POOLS, Actor, iso
from bot.errors import BankIssue, InvalidInput, PermissionDenied
from bot.importers.model import Imported, entry, slug
from bot.messages import Form, Message, ephemeral
from bot.storage.port import Transaction
from bot.text import valid_text
from bot.usecases.base import ServiceBase
from bot.views import Draft, QueuedQuestion

MAX_PENDING = 3  # a member's submissions waiting for review at once
SLUG_TRIES = 20
POOL_WORDS = {"shipped": "the shipped topics only", "own": "this community's own questions only",
              "both": "the shipped topics and this community's own questions"}


def _length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidInput(f"The {what} is {len(text)} characters; keep it to {limit}.")


def parse_draft(values: Mapping[str, str]) -> Draft:
    """The form's values checked, each problem told in one friendly line."""
    def value(key: str) -> str:
        return valid_text(str(values.get(key) or "")).strip()

    question, answer, correct = value("question"), value("answer"), value("correct")
    wrong = tuple(w.strip() for w in value("wrong").splitlines() if w.strip())
    topic, level = " ".join(value("topic").split()), views.difficulty_or_default(value("difficulty"))
    if not question:
        raise InvalidInput("Write the question.")
    if not answer:
        raise InvalidInput("Write the answer: written answers are graded against it.")
    if not topic:
        raise InvalidInput("Give a topic: an existing one or a new one of your own.")
    _length("question", question, views.QUESTION_CHARS)
    _length("answer", answer, views.ANSWER_CHARS)
    _length("topic", topic, views.TOPIC_CHARS)
    _length("correct option", correct, views.OPTION_CHARS)
    for option in wrong:
        _length("wrong option", option, views.OPTION_CHARS)
    if len(wrong) > views.MAX_WRONG:
        raise InvalidInput(f"Give at most {views.MAX_WRONG} wrong options, one per line.")
    if correct and len(wrong) < 2:
        raise InvalidInput("With a correct option give 2 to 4 wrong options (one per line), or leave the options "
                           "empty for a question answered in words.")
    if wrong and not correct:
        raise InvalidInput("Give the correct option too, or leave the wrong options empty.")
    if len({o.lower() for o in (correct, *wrong) if o}) != len([o for o in (correct, *wrong) if o]):
        raise InvalidInput("The options must all be different.")
    if level is None:
        raise InvalidInput("The difficulty is easy, medium or hard.")
    return Draft(question, answer, correct, wrong, topic, level)


def _entry(draft: Draft, topic: str) -> dict[str, Any]:
    """The bank entry of a draft (no id), checked exactly as the bank checks entries."""
    item = Imported(draft.question, draft.answer, correct=draft.correct or None, wrong=list(draft.wrong),
                    difficulty=draft.difficulty)
    made = entry(item, "draft")
    issues: list[BankIssue] = []
    if check_question(made, topic, "the form", None, issues) is None:
        found = issues[0]
        raise InvalidInput(f"The {found.field or 'question'} {found.message}." if found.field
                           else f"{found.message.capitalize()}.")
    return {k: v for k, v in made.items() if k != "id"}


def _draft_of(topic_title: str, data: str) -> Draft:
    raw = json.loads(data)
    choices = raw.get("choices") or {}
    return Draft(raw.get("question", ""), raw.get("answer", ""), str(choices.get("correct") or ""),
                 tuple(str(w) for w in choices.get("wrong") or ()), topic_title, raw.get("difficulty", "medium"))


def _topic(bank: Bank, typed: str) -> tuple[str, str]:
    """(slug, title) of the topic a question goes to: an existing topic named exactly, else a new one."""
    wanted = typed.lower().replace("_", "-")
    for found in bank.topics.values():
        if wanted in (found.slug, found.title.lower(), found.slug.replace("-", " ")):
            return found.slug, found.title
    made = slug(typed, views.TOPIC_CHARS)
    return made, typed


class Authoring(ServiceBase):
    # ----------------------------------------------------------------- writing
    async def question_form(self, actor: Actor) -> Form:
        await self.community_id(actor.platform, actor.community, actor.community_name)
        return views.question_form(WriteQuestion())

    async def add_question(self, actor: Actor, values: Mapping[str, str]) -> Message:
        draft = parse_draft(values)
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        topic, title = _topic(await self.bank_for(community), draft.topic)
        data = json.dumps(_entry(draft, topic), ensure_ascii=False)
        member = await self.member_id(actor)
        now = iso(self.clock.now())
        name = actor.name or actor.user
        if actor.is_admin:
            async with self.db.transaction() as tx:
                qid = await self._publish(tx, community, topic=topic, title=title, data=data, author=actor.user,
                                          now=now)
                await self.store.submissions.add_published(tx, community, author=actor.user, author_name=name,
                                                           topic=topic, title=title, entry=data, question_id=qid,
                                                           now=now)
            return ephemeral(f"Published {views.quoted(draft.question)} in {title}: it is served only here, in "
                             "channels whose question pool takes this community's own questions (the default).")
        async with self.db.transaction() as tx:
            # On replicas the member is locked first: one submission of a member at a time.
            pending = await self.store.submissions.pending_of(tx, community, actor.user, member)
            if pending >= MAX_PENDING:
                raise InvalidInput(f"You already have {pending} questions waiting for review (at most "
                                   f"{MAX_PENDING}); write the next one when the admins have decided.")
            await self.store.submissions.submit(tx, community, author=actor.user, author_name=name, topic=topic,
                                                title=title, entry=data, now=now)
        return ephemeral(f"Thanks! {views.quoted(draft.question)} waits for an admin's review ({pending + 1} of "
                         f"your {MAX_PENDING} allowed). Nobody else sees it until it is approved; you will hear "
                         "privately what they decide.")

    async def _publish(self, tx: Transaction, community: int, *, topic: str, title: str, data: str, author: str,
                       now: str) -> str:
        """Store a community question under a fresh slug of its text; its served id."""
        raw = json.loads(data)
        base = slug(raw["question"])
        for n in range(1, SLUG_TRIES + 1):
            name = base if n == 1 else f"{base}-{n}"
            qid = served_id(community, name)
            issues: list[BankIssue] = []
            question = check_question({**raw, "id": qid}, topic, "community questions", None, issues)
            assert question is not None, issues
            if not await self.store.questions.insert_published(tx, community, name, qid, topic=topic, title=title,
                                                               entry=data, author=author, now=now):
                continue  # that slug is taken (by an earlier question of the same words)
            await self.store.questions.register_published(tx, qid, topic=topic, difficulty=question.difficulty,
                                                          content_hash=question.content_hash, now=now)
            return qid
        raise InvalidInput("This community already has many questions with these words; reword this one.")

    # ----------------------------------------------------------------- the review queue
    async def _reviewer(self, actor: Actor) -> int:
        if not actor.is_admin:
            raise PermissionDenied("/studybot review")
        return await self.community_id(actor.platform, actor.community, actor.community_name)

    async def review(self, actor: Actor, after: int = 0, note: str = "") -> Message:
        """The first queued question after `after` (one at a time), with the number waiting."""
        community = await self._reviewer(actor)
        return await self._next_item(community, after, note)

    async def _next_item(self, community: int, after: int, note: str = "") -> Message:
        waiting = await self.store.submissions.pending(community)
        row = await self.store.submissions.next_pending(community, after)
        item = None if row is None else QueuedQuestion(row["id"], row["author_name"], row["topic_title"],
                                                       _draft_of(row["topic_title"], row["entry"]))
        return views.review_item(item, waiting, note)

    async def _pending(self, community: int, submission_id: int) -> Any:
        row = await self.store.submissions.find(submission_id, community)
        if row is None:
            raise InvalidInput("That question is not in the queue any more.")
        return row

    async def approve(self, actor: Actor, submission_id: int) -> Message:
        community = await self._reviewer(actor)
        row = await self._pending(community, submission_id)
        if row["status"] != "pending":
            return await self._next_item(community, submission_id, f"That question was already {row['status']}.")
        now = iso(self.clock.now())
        async with self.db.transaction() as tx:
            if not await self.store.submissions.approve(tx, submission_id, actor.user, now):
                # another admin decided it meanwhile
                raise InvalidInput("Another admin has just decided that question.")
            qid = await self._publish(tx, community, topic=row["topic"], title=row["topic_title"], data=row["entry"],
                                      author=row["author"], now=now)
            await self.store.submissions.set_question(tx, submission_id, qid)
        question = json.loads(row["entry"])["question"]
        return await self._next_item(community, submission_id, f"✅ Published {views.quoted(question)} in "
                                                               f"{row['topic_title']}.")

    async def reject_form(self, actor: Actor, submission_id: int) -> Form | Message:
        community = await self._reviewer(actor)
        row = await self._pending(community, submission_id)
        if row["status"] != "pending":
            return await self._next_item(community, submission_id, f"That question was already {row['status']}.")
        return views.reject_form(submission_id)

    async def reject(self, actor: Actor, submission_id: int, reason: str) -> Message:
        community = await self._reviewer(actor)
        reason = " ".join(valid_text(reason).split())
        if not reason:
            raise InvalidInput("Give the author a reason: they see it privately.")
        _length("reason", reason, views.REASON_CHARS)
        now = iso(self.clock.now())
        if not await self.store.submissions.reject(submission_id, community, reason=reason, decided_by=actor.user,
                                                   now=now):
            raise InvalidInput("That question is not waiting for review any more.")
        return await self._next_item(community, submission_id, "Rejected: the author will see your reason privately "
                                                               "on their next command.")

    async def edit_form(self, actor: Actor, submission_id: int) -> Form | Message:
        community = await self._reviewer(actor)
        row = await self._pending(community, submission_id)
        if row["status"] != "pending":
            return await self._next_item(community, submission_id, f"That question was already {row['status']}.")
        return views.question_form(EditSubmission(submission_id), _draft_of(row["topic_title"], row["entry"]))

    async def save_edit(self, actor: Actor, submission_id: int, values: Mapping[str, str]) -> Message:
        community = await self._reviewer(actor)
        draft = parse_draft(values)
        topic, title = _topic(await self.bank_for(community), draft.topic)
        data = json.dumps(_entry(draft, topic), ensure_ascii=False)
        if not await self.store.submissions.edit(submission_id, community, topic=topic, title=title, entry=data,
                                                 now=iso(self.clock.now())):
            raise InvalidInput("That question is not waiting for review any more.")
        return await self._next_item(community, submission_id - 1, "Saved your edits; approve it when it is right.")

    async def skip(self, actor: Actor, submission_id: int) -> Message:
        return await self.review(actor, after=submission_id)

    # ----------------------------------------------------------------- the author hears back
    async def notices(self, actor: Actor) -> list[Message]:
        """Decisions on the actor's questions they have not been told yet, each told once, privately."""
        community = await self.community_id(actor.platform, actor.community, actor.community_name)
        told: list[Message] = []
        for row in await self.store.submissions.untold(community, actor.user):
            if not await self.store.submissions.mark_told(row["id"]):
                continue  # told by another replica meanwhile
            question = views.quoted(json.loads(row["entry"])["question"])
            if row["status"] == "published":
                told.append(ephemeral(f"✅ Your question {question} was approved: it is now in {row['topic_title']} "
                                      "for this community.", title="Your question"))
            else:
                told.append(ephemeral(f"Your question {question} was not accepted. The admins' reason: "
                                      f"{row['reason']}", title="Your question"))
        return told

    # ----------------------------------------------------------------- the channel's question pool
    async def set_pool(self, actor: Actor, pool: str, channel: str | None = None) -> Message:
        if not actor.is_admin:
            raise PermissionDenied("/studybot pool")
        wanted = pool.strip().lower()
        if wanted not in POOLS:
            raise InvalidInput("The question pool is shipped, own or both.")
        channel_id = await self.channel_id(actor, channel)
        await self.store.channels.set_pool(channel_id, wanted)
        self._settings.clear()
        return ephemeral(f"Daily questions and /quiz here now come from {POOL_WORDS[wanted]}.")

