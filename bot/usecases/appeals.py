"""Appeals: a member contests the verdict on a written answer; admins uphold (the attempt is re-scored and
the answer accepted for that question in the community) or reject."""

from __future__ import annotations

import json
import re

from bot import scoring, views
from bot.domain import Actor, iso
from bot.errors import InvalidInput, PermissionDenied
from bot.grading import Verdict
from bot.messages import Message, ephemeral
from bot.usecases.base import ServiceBase

MAX_LISTED = 5
_NOT_WORD = re.compile(r"[\W_]+")


def normalized(answer: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", answer.lower()).split())


class Appeals(ServiceBase):
    async def appeal(self, actor: Actor, post_id: int) -> Message:
        member = await self.member_id(actor)
        row = await self.store.appeals.appealable_attempt(post_id, member)
        if row is None:
            raise InvalidInput("You have no answer to this question to appeal: only your own written answer can be.")
        if row["mode"] != "text":
            raise InvalidInput("Only a written answer can be appealed: answer in words first.")
        if row["correct"]:
            raise InvalidInput("That answer already counts as correct.")
        if not await self.store.appeals.file(row["id"], row["community_id"], iso(self.clock.now())):
            return ephemeral("You have already appealed this answer; the admins will look at it.")
        return ephemeral("Thanks: your appeal goes to the admins, who will read your answer against the key "
                         "points. If they uphold it, it counts as correct.")

    async def open_appeals(self, actor: Actor) -> Message:
        community = await self._admin_community(actor)
        rows = await self.store.appeals.open(community)
        bank = await self.bank_for(community)
        items = [views.OpenAppeal(r[0], r[1], question, r[3] or "", r[4], tuple(json.loads(r[5])), r[6] or "")
                 for r in rows if (question := bank.get(r[2])) is not None]
        return views.appeals(items[:MAX_LISTED], len(items))

    async def decide_appeal(self, actor: Actor, appeal_id: int, uphold: bool) -> Message:
        community = await self._admin_community(actor)
        row = await self.store.appeals.with_attempt(appeal_id, community)
        if row is None:
            raise InvalidInput("That appeal is not there any more.")
        if row["status"] != "pending":
            return ephemeral(f"That appeal was already {row['status']}.")
        now = iso(self.clock.now())
        question = (await self.bank_for(community)).get(row["question_id"])
        if uphold and question is None:  # it stays pending, and listed again if the question comes back
            raise InvalidInput("That question is no longer in this community's bank, so the answer cannot be "
                               "re-scored; reject the appeal, or bring the question back first.")
        if not uphold or question is None:
            await self.store.appeals.reject(appeal_id, actor.user, now)
            return ephemeral("Rejected: the verdict stands.")
        points = max(row["points"], scoring.award(question.difficulty, kind=row["kind"], outcome="correct", streak=1,
                                                  practice_scored_today=False).points)
        answer = row["answer_text"] or ""
        appeals = self.store.appeals
        async with self.db.transaction() as tx:  # rescored, decided and accepted together
            await appeals.rescore_correct(tx, row["id"], points)
            await appeals.mark_upheld(tx, appeal_id, actor.user, now)
            await appeals.accept_answer(tx, community, question.id, normalized=normalized(answer), answer=answer,
                                        added_at=now)
        self.recorder.forget_post(row["post_id"])
        return ephemeral(f"Upheld: the answer now counts as correct ({points} pts), and this answer is accepted "
                         "for the question in this community from now on.")

    async def accepted(self, community: int, question_id: str, answer: str) -> Verdict | None:
        """A verdict of correct when the community's admins accepted this answer before (an upheld appeal)."""
        if not await self.store.appeals.is_accepted(community, question_id, normalized(answer)):
            return None
        question = (await self.bank_for(community)).get(question_id)
        points = [k.point for k in question.key_points] if question else []
        return Verdict(1.0, points, [], [], note="Your admins accepted this answer before.")

    async def _admin_community(self, actor: Actor) -> int:
        if not actor.is_admin:
            raise PermissionDenied("/studybot appeals")
        return await self.community_id(actor.platform, actor.community, actor.community_name)
