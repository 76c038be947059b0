"""A community's own questions, stored in the database and served only to that community beside the
shipped bank. Each entry is checked with the bank's own checks when it is stored and again when loaded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bot.bank.loader import check_question
from bot.bank.model import Bank, Question, Topic
from bot.errors import BankIssue, InvalidInput
from bot.ports.questions import QuestionsPort
from bot.storage.port import Database
from bot.storage.sql import SqlStorage


def served_id(community_id: int, slug: str) -> str:
    """The id a community question is served (and stored on posts) under: unique across communities."""
    return f"c{community_id}-{slug}"


class CommunityBanks:
    """The bank each community sees: the shipped topics plus its published questions (a topic of its own,
    or added to a shipped topic of the same slug). Rebuilt when the community's questions change."""

    def __init__(self, questions: QuestionsPort, shipped: Bank) -> None:
        self.questions = questions
        self.shipped = shipped
        self._cache: dict[int, tuple[tuple[int, str], Bank]] = {}
        self._own: dict[int, tuple[Bank, Bank]] = {}

    async def pool(self, community_id: int, pool: str) -> Bank:
        """The questions a channel draws from by its pool: the shipped bank, the community's own questions
        (by topic, with the title they have there), or both."""
        if pool == "shipped":
            return self.shipped
        bank = await self.bank(community_id)
        if pool != "own":
            return bank
        cached = self._own.get(community_id)
        if cached is None or cached[0] is not bank:
            cached = (bank, own_bank(bank, self.shipped))
            self._own[community_id] = cached
        return cached[1]

    async def bank(self, community_id: int) -> Bank:
        stamp = await self.questions.published_stamp(community_id)
        if stamp[0] == 0:
            return self.shipped
        cached = self._cache.get(community_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        bank = merged(self.shipped, await self.questions.community_published(community_id))
        self._cache[community_id] = (stamp, bank)
        return bank


def own_bank(bank: Bank, shipped: Bank) -> Bank:
    """The questions of `bank` that are not the shipped bank's, by topic."""
    topics: dict[str, Topic] = {}
    for topic in bank.topics.values():
        own = tuple(q for q in topic.questions if q.id not in shipped.questions)
        if own:
            topics[topic.slug] = replace(topic, questions=own)
    return Bank(topics)


def merged(shipped: Bank, rows: Iterable[tuple[str, str, str, str]]) -> Bank:
    """The shipped bank with these (served id, topic, title, entry JSON) questions added; an entry that no
    longer passes the checks (written by another version) is left out rather than served broken."""
    own: dict[str, list[Question]] = {}
    titles: dict[str, str] = {}
    for qid, topic, title, entry in rows:
        issues: list[BankIssue] = []
        question = check_question({**json.loads(entry), "id": qid}, topic, "community questions", None, issues)
        if question is not None:
            own.setdefault(topic, []).append(question)
            titles.setdefault(topic, title)
    topics = dict(shipped.topics)
    for slug, questions in own.items():
        base = topics.get(slug)
        if base is None:
            topics[slug] = Topic(slug, titles[slug], "", tuple(questions), "community questions")
        else:
            topics[slug] = replace(base, questions=(*base.questions, *questions))
    return Bank(topics)


# ----------------------------------------------------------------- the CLI's side (either backend)
async def find_community(db: Database, wanted: str) -> int:
    """A community by its external id (`123`), or `platform:id` when two platforms share one."""
    platform, _, external = wanted.rpartition(":")
    rows = await SqlStorage(db).identities.communities_by_external_id(external, platform)
    if not rows:
        raise InvalidInput(f"no community {wanted[:60]!r} in the database: it appears once the bot has been used "
                           "there (the Discord server or Slack workspace id)")
    if len(rows) > 1:
        raise InvalidInput(f"{len(rows)} communities have the id {external[:60]!r}: say which, e.g. discord:{external}")
    return int(rows[0][0])


async def store(db: Database, wanted: str, topics: dict[str, list[dict[str, Any]]], now: str,
                author: str = "import") -> tuple[int, int]:
    """Store imported entries as the community's published questions: (new, updated). Entries are
    matched by their slug, so importing a file again updates in place; all or nothing."""
    community = await find_community(db, wanted)
    questions = SqlStorage(db).questions
    new = updated = 0
    async with db.transaction() as tx:
        for topic, entries in topics.items():
            title = topic.replace("-", " ").capitalize()
            for entry in entries:
                slug, qid = entry["id"], served_id(community, entry["id"])
                exists = await questions.slug_taken(tx, community, slug)
                data = json.dumps({k: v for k, v in entry.items() if k != "id"}, ensure_ascii=False)
                await questions.upsert_imported(tx, community, slug, qid, topic=topic, title=title, entry=data,
                                                author=author, now=now)
                # Posts refer to questions by id: the row the shipped bank's sync keeps for its own.
                await questions.register_imported(tx, qid, topic=topic, difficulty=entry["difficulty"], now=now)
                if exists:
                    updated += 1
                else:
                    new += 1
    return new, updated


async def load_entries(db: Database, wanted: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """A community's published questions as bank entries per topic: slug -> (title, entries)."""
    community = await find_community(db, wanted)
    rows = await SqlStorage(db).questions.community_entries(community)
    topics: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for slug, topic, title, entry in rows:
        topics.setdefault(topic, (title, []))[1].append({"id": slug, **json.loads(entry)})
    return topics
