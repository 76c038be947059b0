"""Answering a post: by choice, in words, or by rating oneself after a reveal."""

from __future__ import annotations

from bot import scoring, srs, views
from bot.answers import AnswerInput
from bot.domain import Actor, AnswerResult, PostRecord, iso
from bot.errors import InvalidInput
from bot.grading import MAX_ANSWER_CHARS, Verdict
from bot.messages import Message, Visibility, ephemeral
from bot.text import valid_text
from bot.usecases.appeals import Appeals


class Answering(Appeals):
    async def answer_choice(self, actor: Actor, post_id: int, shown: int) -> AnswerResult:
        post = await self._post(post_id)
        question = post.question
        if not post.order or not 0 <= shown < len(post.order):
            raise InvalidInput("That option does not exist on this question.")
        index = post.order[shown]
        outcome = "correct" if index == 0 else "incorrect"
        assert question.choices is not None
        chosen = f"{views.LETTERS[shown]}. {question.choices.options[index]}"
        return await self._record(actor, post, mode="choice", outcome=outcome, score=float(index == 0),
                                  choice=index, text=None, chosen=chosen)

    async def answer_text(self, actor: Actor, post_id: int, text: str) -> AnswerResult:
        post = await self._post(post_id)
        text = valid_text(text).strip()
        if not text:
            raise InvalidInput("Your answer is empty: write a sentence or two.")
        if len(text) > MAX_ANSWER_CHARS:
            raise InvalidInput(f"That answer is too long; keep it under {MAX_ANSWER_CHARS} characters.")
        verdict = await self.accepted(post.community_id, post.question_id, text) \
            or await self.grader.grade(post.question, text)
        return await self._record(actor, post, mode="text", outcome=verdict.label, score=verdict.score,
                                  choice=None, text=text, verdict=verdict)

    async def _record(self, actor: Actor, post: PostRecord, *, mode: str, outcome: str, score: float,
                      choice: int | None, text: str | None, chosen: str | None = None,
                      verdict: Verdict | None = None) -> AnswerResult:
        if post.revealed and mode != "self":
            view = await self.post_view(post.id)
            msg = views.reveal_private(view, can_rate=False)
            return AnswerResult(Message(body="This question has already been revealed, so answers no longer "
                                        "count. Here is the answer; /quiz brings a fresh one.\n\n" + msg.body,
                                        visibility=Visibility.EPHEMERAL), None, False)
        member = await self.member_id(actor)
        question = post.question
        now = self.clock.now()
        settings = await self.channel_settings(post.channel_id)
        keys = scoring.period_keys(now.astimezone(settings.zone).date())
        done = await self.recorder.record(AnswerInput(
            post.id, post.community_id, post.kind, post.prev_daily, member, question, mode, outcome, score,
            choice, text, tuple(verdict.missed) if verdict else (), now, keys))
        view = views.PostView(post.id, post.kind, question, post.order, done.answered, done.correct, post.revealed)
        if done.duplicate:
            return AnswerResult(views.already_answered(view), None, False)
        if mode == "self":
            return AnswerResult(ephemeral(f"Noted ({outcome}). I'll bring this one back when it's due."), None, True)
        feedback = views.answer_feedback(view, outcome=outcome, points=done.points, streak_bonus=done.streak_bonus,
                                         streak=done.streak, chosen=chosen, verdict=verdict)
        return AnswerResult(feedback, views.question_card(view), True)

    async def reveal(self, actor: Actor, post_id: int) -> Message:
        """The answer, privately; a member who has not answered yet may rate themselves."""
        view = await self.post_view(post_id)
        member = await self.member_id(actor)
        answered = self.recorder.has_answered(post_id, member)
        if answered is None:
            answered = await self.store.answers.has_answered(post_id, member)
        return views.reveal_private(view, can_rate=not answered)

    async def rate(self, actor: Actor, post_id: int, rating: str) -> Message:
        if rating not in srs.RATINGS:
            raise InvalidInput("Rate with again, hard, good or easy.")
        post = await self._post(post_id)
        member = await self.member_id(actor)
        unsure = await self.store.answers.unsure_attempt(post_id, member)
        if unsure is not None:  # the grader could not tell; the member's own rating schedules the review
            if unsure["self_rating"]:
                return ephemeral(f"You rated this one already ({unsure['self_rating']}).")
            await self.rate_unsure(member, post.question_id, unsure["id"], rating)
            return ephemeral(f"Noted ({rating}). I'll bring this one back when it's due.")
        result = await self._record(actor, post, mode="self", outcome=rating, score=0.0, choice=None, text=None)
        return result.feedback

    async def rate_unsure(self, member: int, question_id: str, attempt_id: int, rating: str) -> None:
        answers = self.store.answers
        card, due = srs.review(await answers.card(member, question_id), rating, self.clock.now())
        async with self.db.transaction() as tx:
            if await answers.set_self_rating(tx, attempt_id, rating):  # the first rating only
                await answers.upsert_review(tx, (member, question_id, card, iso(due), int(rating == "again")))
        self.recorder.forget_card(member, question_id)

    async def more(self, actor: Actor, post_id: int) -> Message:
        return views.explanation(await self.post_view(post_id))
