"""Read questions/*.yaml, validate every field and report problems with file, line, id and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.bank.model import DIFFICULTIES, Bank, Choices, KeyPoint, Question, Topic
from bot.errors import BankError, BankIssue
from bot.inputs import InputProblem, compose_yaml, construct_yaml, read_regular_text
from bot.text import latex_to_unicode

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TOPIC_KEYS = {"topic", "title", "description", "questions"}
QUESTION_KEYS = {
    "id", "question", "difficulty", "answer", "key_points", "choices", "explanation", "tags", "source", "aliases",
}
MAX_BANK_FILE_BYTES = 4 * 1024 * 1024  # the largest shipped topic file is about 90 KB
MAX_BANK_FILES = 1000
MAX_TOPIC_SLUG = 40  # a topic button's id (sb:t:<slug>) must fit every platform's limit
REQUIRED = ("id", "question", "difficulty", "answer", "key_points")


class _Located:
    """A YAML document with the line of every mapping key, for error messages."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.node = node

    @staticmethod
    def key_lines(node: yaml.Node | None) -> dict[str, int]:
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {str(k.value): k.start_mark.line + 1 for k, _ in node.value}

    @staticmethod
    def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    found: yaml.Node = v
                    return found
        return None


def _parse(path: Path, display: str, issues: list[BankIssue]) -> tuple[Any, yaml.Node | None]:
    try:
        node = compose_yaml(read_regular_text(path, MAX_BANK_FILE_BYTES))
        return construct_yaml(node), node
    except InputProblem as exc:
        issues.append(BankIssue(display, str(exc), line=exc.line))
        return None, None


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return None


def check_question(raw: Any, topic: str, display: str, line: int | None, issues: list[BankIssue]) -> Question | None:
    """One entry checked exactly as the loader checks it (importers use this), problems located at `line`."""
    return _question(raw, None, topic, display, issues, line=line)


def _question(
    raw: Any, node: yaml.Node | None, topic: str, display: str, issues: list[BankIssue], *, line: int | None = None
) -> Question | None:
    lines = _Located.key_lines(node)
    line0 = node.start_mark.line + 1 if node is not None else line
    if not isinstance(raw, dict):
        issues.append(BankIssue(display, "each question must be a mapping", line=line0))
        return None
    qid = str(raw.get("id", "")).strip() or None
    before = len(issues)

    def bad(field: str, message: str) -> None:
        issues.append(BankIssue(display, message, line=lines.get(field, line0), question_id=qid, field=field))

    for key in sorted(set(raw) - QUESTION_KEYS):
        bad(key, "unknown field (allowed: " + ", ".join(sorted(QUESTION_KEYS)) + ")")
    for key in REQUIRED:
        if raw.get(key) in (None, "", []):
            bad(key, "is required")
    if qid and not SLUG.match(qid):
        bad("id", "must be a lowercase slug such as 'vanishing-gradients'")
    for key in ("question", "answer", "explanation"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            bad(key, "must be text")
    difficulty = raw.get("difficulty")
    if difficulty not in (None, "") and difficulty not in DIFFICULTIES:
        bad("difficulty", f"must be one of {', '.join(DIFFICULTIES)} (got {difficulty!r})")

    key_points: list[KeyPoint] = []
    kp_raw = raw.get("key_points")
    if kp_raw not in (None, []) and not isinstance(kp_raw, list):
        bad("key_points", "must be a list of {point, accept, reject}")
    for item in kp_raw if isinstance(kp_raw, list) else []:
        if isinstance(item, str):
            key_points.append(KeyPoint(point=item.strip()))
            continue
        point = item.get("point") if isinstance(item, dict) else None
        accept = _strings(item.get("accept")) if isinstance(item, dict) else None
        reject = _strings(item.get("reject")) if isinstance(item, dict) else None
        extra = set(item) - {"point", "accept", "reject", "derived"} if isinstance(item, dict) else set()
        if not isinstance(point, str) or not point.strip() or accept is None or reject is None or extra:
            bad("key_points", "each key point needs 'point' text and optional 'accept'/'reject' lists")
            continue
        key_points.append(KeyPoint(point.strip(), accept, reject, derived=bool(item.get("derived"))))

    choices = None
    ch = raw.get("choices")
    if ch is not None:
        wrong = _strings(ch.get("wrong")) if isinstance(ch, dict) else None
        correct = ch.get("correct") if isinstance(ch, dict) else None
        if not isinstance(correct, str | int | float) or wrong is None or not 2 <= len(wrong) <= 4:
            bad("choices", "needs 'correct' and a 'wrong' list of 2 to 4 options")
        else:
            choices = Choices(str(correct).strip(), wrong)

    tags, source = _strings(raw.get("tags")), _strings(raw.get("source"))
    aliases = _strings(raw.get("aliases"))
    if aliases is None or any(not SLUG.match(a) for a in aliases):
        bad("aliases", "must be a list of the lowercase ids this entry absorbed")
    if tags is None:
        bad("tags", "must be a list")
    if source is None:
        bad("source", "must be a list of seed ids")
    if len(issues) > before or qid is None:
        return None
    return Question(
        id=qid,
        topic=topic,
        question=latex_to_unicode(str(raw["question"]).strip()),
        difficulty=str(difficulty),
        answer=latex_to_unicode(str(raw["answer"]).strip()),
        key_points=tuple(key_points),
        choices=choices,
        explanation=latex_to_unicode(str(raw.get("explanation") or "").strip()),
        tags=tags or (),
        source=source or (),
        file=display,
        line=line0,
        aliases=aliases or (),
    )


def _topic(path: Path, display: str, issues: list[BankIssue]) -> Topic | None:
    data, node = _parse(path, display, issues)
    if data is None:
        if node is None and not any(i.file == display for i in issues):
            issues.append(BankIssue(display, "file is empty"))
        return None
    if not isinstance(data, dict):
        issues.append(BankIssue(display, "top level must be a mapping with topic, title, questions", line=1))
        return None
    lines = _Located.key_lines(node)
    before = len(issues)
    for key in sorted(set(data) - TOPIC_KEYS):
        issues.append(BankIssue(display, "unknown top-level field", line=lines.get(key), field=key))
    slug = data.get("topic")
    if not isinstance(slug, str) or not SLUG.match(slug) or len(slug) > MAX_TOPIC_SLUG:
        issues.append(BankIssue(display, f"must be a lowercase slug of at most {MAX_TOPIC_SLUG} characters",
                                line=lines.get("topic", 1), field="topic"))
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        issues.append(BankIssue(display, "is required", line=lines.get("title", 1), field="title"))
    items = data.get("questions")
    if not isinstance(items, list) or not items:
        issues.append(BankIssue(display, "must be a non-empty list", line=lines.get("questions", 1), field="questions"))
        return None
    qnode = _Located.child(node, "questions")
    nodes = qnode.value if isinstance(qnode, yaml.SequenceNode) else [None] * len(items)
    if len(issues) > before:
        return None
    # A bad question is reported and left out; the rest still load so that every problem (duplicate ids
    # across files included) is reported in one run.
    questions = [_question(raw, n, str(slug), display, issues) for raw, n in zip(items, nodes, strict=False)]
    return Topic(
        slug=str(slug),
        title=str(data["title"]).strip(),
        description=str(data.get("description") or "").strip(),
        questions=tuple(q for q in questions if q is not None),
        file=display,
    )


def load_bank(directory: Path) -> Bank:
    """Load and validate every questions/*.yaml; raise BankError listing every problem found."""
    issues: list[BankIssue] = []
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))
    except OSError as exc:
        raise BankError([BankIssue(str(directory), f"cannot list the question folder: {exc.strerror or exc}; "
                                   "set STUDYBOT_QUESTIONS to the folder holding the *.yaml files")]) from None
    if not files:
        raise BankError([BankIssue(str(directory), "no *.yaml question files found; set STUDYBOT_QUESTIONS to "
                                   "the folder holding them (questions/ in the repository)")])
    if len(files) > MAX_BANK_FILES:
        raise BankError([BankIssue(str(directory), f"{len(files)} question files (at most {MAX_BANK_FILES})")])
    topics: dict[str, Topic] = {}
    for path in files:
        display = _display(path)
        topic = _topic(path, display, issues)
        if topic is None:
            continue
        if topic.slug in topics:
            issues.append(BankIssue(display, f"topic '{topic.slug}' is also defined in {topics[topic.slug].file}",
                                    field="topic"))
            continue
        topics[topic.slug] = topic
    _check_ids_unique(list(topics.values()), issues)
    if issues:
        raise BankError(issues)
    return Bank(topics)


def _check_ids_unique(topics: list[Topic], issues: list[BankIssue]) -> None:
    """Every id and alias names one entry. Ids are claimed first, so an alias that repeats an id is the
    one reported."""
    seen: dict[str, Question] = {}
    names = [(q, q.id, "id") for t in topics for q in t.questions]
    names += [(q, alias, "aliases") for t in topics for q in t.questions for alias in q.aliases]
    for q, name, field in names:
        first = seen.setdefault(name, q)
        if first is not q or (field == "aliases" and name == q.id):
            issues.append(BankIssue(q.file, f"duplicate id '{name}': also at {first.file}:{first.line}",
                                    line=q.line, question_id=q.id, field=field))


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except (ValueError, OSError):  # elsewhere, or the working folder is gone
        return str(path)
