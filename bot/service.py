"""The one service API every adapter calls: quiz, daily, answer, reveal, leaderboard, stats, settings.

The use cases live in bot/usecases (one module each); this class puts them together and routes button
actions. Everything a member is told has been committed first.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot import actions
from bot.actions import Action
from bot.domain import Actor, AnswerResult, ChannelSettings, Reply, TextPrompt, iso
from bot.errors import InvalidInput, UnknownPost
from bot.messages import Button, Style
from bot.usecases.admin import Admin
from bot.usecases.answering import Answering
from bot.usecases.authoring import Authoring
from bot.usecases.boards import Boards
from bot.usecases.practice import Practice

# The domain types adapters use come with the service they talk to.
__all__ = ["Actor", "AnswerResult", "ChannelSettings", "Reply", "StudyService", "TextPrompt", "iso"]


class StudyService(Practice, Answering, Boards, Admin, Authoring):
    def forget_channel_settings(self) -> None:
        """Channel settings were changed outside the service (an adapter paused an uninstalled workspace's
        channels): read them from the database again."""
        self._settings.clear()

    async def press(self, actor: Actor, pressed: Action | str | None) -> Reply | AnswerResult:
        """Run a button's action (or its encoded id); adapters call this for every component."""
        action = actions.decode(pressed) if isinstance(pressed, str) else pressed
        match action:
            case actions.Practice():
                return await self.quiz(actor, private=True)
            case actions.PickTopic(slug):
                return await self.quiz(actor, slug)
            case actions.AnswerChoice(post_id, shown):
                return await self.answer_choice(actor, post_id, shown)
            case actions.AnswerInWords(post_id):
                view = await self.post_view(post_id)
                return TextPrompt(post_id, view.question.question)
            case actions.Reveal(post_id):
                return await self.reveal(actor, post_id)
            case actions.More(post_id):
                return await self.more(actor, post_id)
            case actions.Rate(post_id, rating):
                return await self.rate(actor, post_id, rating)
            case actions.Appeal(post_id):
                return await self.appeal(actor, post_id)
            case actions.DecideAppeal(appeal_id, uphold):
                return await self.decide_appeal(actor, appeal_id, uphold)
            case actions.ExportMisses():
                return await self.export_misses(actor)
            case actions.WriteQuestion():
                return await self.question_form(actor)
            case actions.EditSubmission(submission_id):
                return await self.edit_form(actor, submission_id)
            case actions.DecideSubmission(submission_id, approve):
                return await (self.approve(actor, submission_id) if approve
                              else self.reject_form(actor, submission_id))
            case actions.SkipSubmission(submission_id):
                return await self.skip(actor, submission_id)
        raise UnknownPost()

    async def submit_form(self, actor: Actor, action: Action | None, values: Mapping[str, str]) -> Reply:
        """A submitted form (see bot.messages.Form), by the action its id stands for."""
        match action:
            case actions.WriteQuestion():
                return await self.add_question(actor, values)
            case actions.EditSubmission(submission_id):
                return await self.save_edit(actor, submission_id, values)
            case actions.DecideSubmission(submission_id, False):
                return await self.reject(actor, submission_id, values.get("reason", ""))
        raise InvalidInput("That form has expired; open it again.")

    async def topic_buttons(self, actor: Actor, query: str = "") -> tuple[Button, ...]:
        bank = await self.actor_bank(actor)
        found = bank.search_topics(query) if query else list(bank.topics.values())
        return tuple(Button.of(actions.PickTopic(t.slug), t.title, Style.SECONDARY) for t in found[:25])
