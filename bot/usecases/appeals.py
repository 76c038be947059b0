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
        row = await self.db.fetchone("SELECT id, mode, correct, community_id FROM attempts WHERE post_id = ? "
                                     "AND member_id = ?", (post_id, member))
        if row is None or row["mode"] != "text":
            raise InvalidInput("Only a written answer can be appealed: answer in words first.")
        if row["correct"]:
            raise InvalidInput("That answer already counts as correct.")
        async with self.db.transaction() as tx:
            cur = await tx.execute("INSERT INTO appeals (attempt_id, community_id, created_at) VALUES (?, ?, ?) "
                                   "ON CONFLICT (attempt_id) DO NOTHING", (row["id"], row["community_id"],
                                                                          iso(self.clock.now())))
        if not cur.rowcount:
            return ephemeral("You have already appealed this answer; the admins will look at it.")
        return ephemeral("Thanks: your appeal goes to the admins, who will read your answer against the key "
                         "points. If they uphold it, it counts as correct.")

    async def open_appeals(self, actor: Actor) -> Message:
        community = await self._admin_community(actor)
        rows = await self.db.fetchall(
            "SELECT ap.id, m.display_name, a.question_id, a.answer_text, a.score, a.missed FROM appeals ap "
            "JOIN attempts a ON a.id = ap.attempt_id JOIN members m ON m.id = a.member_id "
            "WHERE ap.community_id = ? AND ap.status = 'pending' ORDER BY ap.id", (community,))
        bank = await self.bank_for(community)
        items = [views.OpenAppeal(r[0], r[1], question, r[3] or "", r[4], tuple(json.loads(r[5])))
                 for r in rows if (question := bank.get(r[2])) is not None]
        return views.appeals(items[:MAX_LISTED], len(items))

    async def decide_appeal(self, actor: Actor, appeal_id: int, uphold: bool) -> Message:
        community = await self._admin_community(actor)
        row = await self.db.fetchone(
            "SELECT ap.status, a.id, a.post_id, a.question_id, a.kind, a.answer_text, a.points FROM appeals ap "
            "JOIN attempts a ON a.id = ap.attempt_id WHERE ap.id = ? AND ap.community_id = ?", (appeal_id, community))
        if row is None:
            raise InvalidInput("That appeal is not there any more.")
        if row["status"] != "pending":
            return ephemeral(f"That appeal was already {row['status']}.")
        now = iso(self.clock.now())
        question = (await self.bank_for(community)).get(row["question_id"])
        if not uphold or question is None:
            async with self.db.transaction() as tx:
                await tx.execute("UPDATE appeals SET status = 'rejected', decided_by = ?, decided_at = ? WHERE id = ?",
                                 (actor.user, now, appeal_id))
            return ephemeral("Rejected: the verdict stands.")
        points = max(row["points"], scoring.award(question.difficulty, kind=row["kind"], outcome="correct", streak=1,
                                                  practice_scored_today=False).points)
        async with self.db.transaction() as tx:
            # The attempts_rescore trigger moves the difference into every board the attempt counted in.
            await tx.execute("UPDATE attempts SET points = ?, correct = 1, score = 1.0, verdict = 'correct' "
                             "WHERE id = ?", (points, row["id"]))
            await tx.execute("UPDATE appeals SET status = 'upheld', decided_by = ?, decided_at = ? WHERE id = ?",
                             (actor.user, now, appeal_id))
            await tx.execute(
                "INSERT INTO accepted_answers (community_id, question_id, normalized, answer, added_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (community, question.id, normalized(row["answer_text"] or ""), row["answer_text"] or "", now))
        self.recorder.forget_post(row["post_id"])
        return ephemeral(f"Upheld: the answer now counts as correct ({points} pts), and this answer is accepted "
                         "for the question in this community from now on.")

    async def accepted(self, community: int, question_id: str, answer: str) -> Verdict | None:
        """A verdict of correct when the community's admins accepted this answer before (an upheld appeal)."""
        row = await self.db.fetchone("SELECT 1 FROM accepted_answers WHERE community_id = ? AND question_id = ? "
                                     "AND normalized = ?", (community, question_id, normalized(answer)))
        if row is None:
            return None
        question = (await self.bank_for(community)).get(question_id)
        points = [k.point for k in question.key_points] if question else []
        return Verdict(1.0, points, [], [], note="Your admins accepted this answer before.")

    async def _admin_community(self, actor: Actor) -> int:
        if not actor.is_admin:
            raise PermissionDenied("/studybot appeals")
        return await self.community_id(actor.platform, actor.community, actor.community_name)
