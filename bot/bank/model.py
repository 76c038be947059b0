"""Immutable bank objects and topic lookup."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from bot.errors import UnknownTopic

DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True, slots=True)
class KeyPoint:
    point: str
    accept: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    derived: bool = False  # made from the answer's sentences by an importer, not written as a key point


@dataclass(frozen=True, slots=True)
class Choices:
    correct: str
    wrong: tuple[str, ...]

    @property
    def options(self) -> tuple[str, ...]:
        """Option 0 is the correct one; posts store their own shuffled order."""
        return (self.correct, *self.wrong)


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    topic: str
    question: str
    difficulty: str
    answer: str
    key_points: tuple[KeyPoint, ...]
    choices: Choices | None
    explanation: str = ""
    tags: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    file: str = ""
    line: int | None = None
    aliases: tuple[str, ...] = ()  # ids of merged entries that now resolve here

    @property
    def content_hash(self) -> str:
        """Changes whenever what a member sees or is graded on changes."""
        payload: dict[str, Any] = {
            "q": self.question,
            "d": self.difficulty,
            "a": self.answer,
            "k": [[k.point, list(k.accept), list(k.reject)] for k in self.key_points],
            "c": list(self.choices.options) if self.choices else None,
            "e": self.explanation,
        }
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str
    title: str
    description: str
    questions: tuple[Question, ...]
    file: str = ""


def _starts(topic: Topic, wanted: str) -> bool:
    """The slug or title starts with `wanted`, or one of their words does (at a word boundary)."""
    names = (topic.slug, topic.slug.replace("-", " "), topic.title.lower())
    words = {w for name in names for w in name.replace("-", " ").split()}
    return any(name.startswith(wanted) for name in names) or any(w.startswith(wanted) for w in words)


@dataclass(frozen=True)
class Bank:
    topics: dict[str, Topic]
    questions: dict[str, Question] = field(init=False)
    aliases: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        merged = {q.id: q for t in self.topics.values() for q in t.questions}
        object.__setattr__(self, "questions", merged)
        object.__setattr__(self, "aliases", {a: q.id for q in merged.values() for a in q.aliases})

    def get(self, question_id: str) -> Question | None:
        """The entry with this id, or the entry that absorbed it when it was merged."""
        found = self.questions.get(question_id)
        if found is None and question_id in self.aliases:
            found = self.questions.get(self.aliases[question_id])
        return found

    def __len__(self) -> int:
        return len(self.questions)

    def find_topic(self, query: str) -> Topic:
        """A topic by slug or title, case-insensitive; else the one topic whose slug or title starts with
        the query, or has a word that does (`transformers` finds transformers-llm); else UnknownTopic with
        the closest ones."""
        wanted = " ".join(query.strip().lower().replace("_", "-").split())
        for topic in self.topics.values():
            if wanted in (topic.slug, topic.title.lower(), topic.slug.replace("-", " ")):
                return topic
        if wanted:
            prefixed = [t for t in self.topics.values() if _starts(t, wanted)]
            if len(prefixed) == 1:
                return prefixed[0]
        raise UnknownTopic(query, self.closest_topics(query))

    def closest_topics(self, query: str, limit: int = 3) -> list[str]:
        names = {t.slug: f"{t.slug} {t.title}".lower() for t in self.topics.values()}
        found = process.extract(query.lower(), names, scorer=fuzz.WRatio, limit=limit, score_cutoff=40)
        return [slug for _, _, slug in found]

    def search_topics(self, prefix: str, limit: int = 25) -> list[Topic]:
        """Topics for autocomplete: substring matches first, then fuzzy ones."""
        needle = prefix.strip().lower()
        if not needle:
            return list(self.topics.values())[:limit]
        direct = [t for t in self.topics.values() if needle in t.slug or needle in t.title.lower()]
        rest = [self.topics[s] for s in self.closest_topics(needle, limit) if self.topics[s] not in direct]
        return (direct + rest)[:limit]
