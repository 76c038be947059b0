"""What every importer produces: questions in a neutral shape, turned into bank entries with stable ids."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from bot.bank.model import DIFFICULTIES


class ImportProblem(ValueError):
    """A file that cannot be imported: what is wrong and where (1-based line when known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Imported:
    question: str
    answer: str
    line: int | None = None  # where it starts in the source file
    correct: str | None = None  # the correct choice, when the source has choices
    wrong: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # other accepted answers (trivia formats)
    key_points: list[str] = field(default_factory=list)
    topic: str | None = None
    difficulty: str | None = None
    explanation: str = ""


_SLUG_PART = re.compile(r"[^a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
MAX_DERIVED = 4


def slug(text: str, limit: int = 60) -> str:
    """A lowercase slug of `text`, cut at a word boundary."""
    words = [w for w in _SLUG_PART.split(text.lower()) if w]
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or (words[0][:limit] if words else "question")


def derived_points(item: Imported) -> list[dict[str, Any]]:
    """Key points made from the answer's sentences (marked `derived`), the answer's other accepted forms
    as phrasings of the first."""
    sentences = [s.strip() for s in _SENTENCE.split(item.answer) if s.strip()] or [item.answer.strip()]
    points: list[dict[str, Any]] = [{"point": s, "derived": True} for s in sentences[:MAX_DERIVED]]
    accepted = [a for a in item.accepted if a.strip() and a.strip() != item.answer.strip()]
    if accepted:
        points[0]["accept"] = accepted
    return points


def entry(item: Imported, qid: str) -> dict[str, Any]:
    """The bank mapping of one imported question."""
    out: dict[str, Any] = {
        "id": qid,
        "question": item.question.strip(),
        "difficulty": (item.difficulty or "medium").strip().lower(),
        "answer": item.answer.strip(),
        "key_points": [{"point": p} for p in item.key_points if p.strip()] or derived_points(item),
    }
    wrong = [w.strip() for w in item.wrong if w.strip()]
    if item.correct and item.correct.strip() and 2 <= len(wrong) <= 4:
        out["choices"] = {"correct": item.correct.strip(), "wrong": wrong}
    if item.explanation.strip():
        out["explanation"] = item.explanation.strip()
    if out["difficulty"] not in DIFFICULTIES:
        out["difficulty"] = item.difficulty  # left as given: the bank check names it
    return out


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "div", "p", "li"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(text: str) -> str:
    """Plain text of an HTML fragment (Anki fields, Open Trivia DB strings): tags dropped, entities decoded."""
    if "<" not in text and "&" not in text:
        return text.strip()
    parser = _Text()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in html.unescape("".join(parser.parts)).splitlines())
    return "\n".join(line for line in lines if line)
