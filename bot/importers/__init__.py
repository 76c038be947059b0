"""`studybot bank import`: questions from other tools turned into bank topics.

Formats: csv / tsv (a header row), anki (Anki's text export), apkg (an Anki package), opentdb (Open Trivia DB
JSON), red (Red-DiscordBot trivia YAML), gift (Moodle GIFT), quizlet (Quizlet's export). Every imported
entry goes through the bank's own checks, located in the source file; one problem imports nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.bank.loader import MAX_TOPIC_SLUG, SLUG, check_question
from bot.errors import BankError, BankIssue
from bot.importers.apkg import read_apkg
from bot.importers.model import Imported, ImportProblem, entry, slug
from bot.importers.tabular import read_csv, read_pairs
from bot.importers.trivia import read_gift, read_opentdb, read_red
from bot.inputs import InputProblem, compose_yaml, construct_yaml, read_regular_text

FORMATS = ("bank", "csv", "tsv", "anki", "apkg", "opentdb", "red", "gift", "quizlet")
MAX_IMPORT_BYTES = 8 * 1024 * 1024
MAX_APKG_BYTES = 64 * 1024 * 1024
MAX_QUESTIONS = 10_000
MARKER = "# Written by `studybot bank import` (or `bank export`); writing again updates the questions by id."

_TEXT_READERS: dict[str, Callable[[str], list[Imported]]] = {
    "csv": lambda text: read_csv(text, ","), "tsv": lambda text: read_csv(text, "\t"),
    "anki": read_pairs, "quizlet": read_pairs, "opentdb": read_opentdb, "red": read_red, "gift": read_gift,
}


@dataclass
class ImportResult:
    source: str
    format: str
    topics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.topics.values())

    def summary(self) -> str:
        entries = [e for v in self.topics.values() for e in v]
        plain = sum("choices" not in e for e in entries)
        derived = sum(any(k.get("derived") for k in e["key_points"]) for e in entries)
        return (f"{len(entries)} questions from {self.source} ({self.format}) in topic(s) "
                f"{', '.join(self.topics)}; {plain} without choices (answered in words), {derived} with key "
                "points derived from the answer")


def detect(path: Path, text: str | None) -> str:
    """The format from the file name, else from its first lines."""
    suffix = path.suffix.lower()
    by_suffix = {".csv": "csv", ".tsv": "tsv", ".apkg": "apkg", ".json": "opentdb", ".yaml": "red", ".yml": "red",
                 ".gift": "gift"}
    head = (text or "")[:4096]
    if suffix in (".txt", ".tsv") and head.lstrip().startswith("#separator:"):
        return "anki"
    if suffix in (".yaml", ".yml") and re.search(r"(?m)^topic:", head) and re.search(r"(?m)^questions:", text or ""):
        return "bank"  # a bank topic file (questions/*.yaml, or what `bank export` wrote)
    if suffix in by_suffix:
        return by_suffix[suffix]
    if "{" in head and "}" in head and ("=" in head or "~" in head):
        return "gift"
    if head.lstrip().startswith(("{", "[")):
        return "opentdb"
    return "anki" if head.lstrip().startswith("#") else "quizlet"


def read_file(path: Path, fmt: str | None = None, topic: str | None = None) -> ImportResult:
    """Read, convert and check; raises BankError (file, line, question, field) or ImportProblem."""
    display = str(path)
    if fmt is not None and fmt not in FORMATS:
        raise ImportProblem(f"unknown format {fmt[:20]!r}: use one of {', '.join(FORMATS)}")
    if topic is not None and (not SLUG.match(topic) or len(topic) > MAX_TOPIC_SLUG):
        raise ImportProblem(f"--topic must be a lowercase slug of at most {MAX_TOPIC_SLUG} characters, "
                            "such as our-interviews")
    try:
        if (fmt or detect(path, None)) == "apkg":
            _check_size(path, MAX_APKG_BYTES)
            fmt, items = "apkg", read_apkg(path)
        else:
            text = read_regular_text(path, MAX_IMPORT_BYTES)
            fmt = fmt or detect(path, text)
            if fmt == "bank":
                return _bank_file(path, text, topic)
            items = _TEXT_READERS[fmt](text)
    except InputProblem as exc:
        raise ImportProblem(str(exc), line=exc.line) from None
    if not items:
        raise ImportProblem("no questions found in the file")
    if len(items) > MAX_QUESTIONS:
        raise ImportProblem(f"{len(items)} questions; at most {MAX_QUESTIONS} are imported at once")
    return _check(items, ImportResult(display, fmt), topic or _topic_of(path))


def _bank_file(path: Path, text: str, topic: str | None) -> ImportResult:
    """A bank topic file taken as it is: every entry checked like the bank's own, located at its line."""
    try:
        node = compose_yaml(text)
        data = construct_yaml(node)
    except InputProblem as exc:
        raise ImportProblem(str(exc), line=exc.line) from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ImportProblem("a bank file needs topic, title and a questions list", line=1)
    slug = topic or str(data.get("topic") or _topic_of(path))
    lines = [n.start_mark.line + 1 for n in _question_nodes(node)]
    issues: list[BankIssue] = []
    result = ImportResult(str(path), "bank")
    for number, raw in enumerate(data["questions"]):
        if check_question(raw, slug, str(path), lines[number] if number < len(lines) else None, issues):
            result.topics.setdefault(slug, []).append(raw)
    if issues:
        raise BankError(issues)
    if not result.topics:
        raise ImportProblem("no questions found in the file")
    return result


def _question_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    for key, value in node.value if isinstance(node, yaml.MappingNode) else []:
        if key.value == "questions" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _check_size(path: Path, limit: int) -> None:
    """A binary input (the zip is opened by zipfile, not read as text) is a regular file of bounded size."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ImportProblem(f"cannot open it: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ImportProblem("not a regular file")
    if info.st_size > limit:
        raise ImportProblem(f"it is {info.st_size:,} bytes; at most {limit:,} are read")


def _topic_of(path: Path) -> str:
    return slug(path.stem, MAX_TOPIC_SLUG) or "imported"


def _check(items: list[Imported], result: ImportResult, default_topic: str) -> ImportResult:
    issues: list[BankIssue] = []
    taken: set[str] = set()
    for item in items:
        topic = slug(item.topic, MAX_TOPIC_SLUG) if item.topic else default_topic
        qid = base = slug(item.question)
        n = 2
        while qid in taken:  # the same question text twice: numbered in file order, so ids stay stable
            qid, n = f"{base}-{n}", n + 1
        taken.add(qid)
        raw = entry(item, qid)
        if check_question(raw, topic, result.source, item.line, issues) is not None:
            result.topics.setdefault(topic, []).append(raw)
    if issues:
        raise BankError(issues)
    return result


def write(result: ImportResult, out_dir: Path, *, force: bool = False) -> list[tuple[Path, int, int]]:
    """Write each topic to out_dir/<topic>.yaml: new questions added, those with the same id replaced,
    the others kept. A file that studybot did not write is replaced only with `force`."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportProblem(f"--out {out_dir} cannot be used as a folder: {exc.strerror or exc}") from None
    written = []
    for topic, entries in result.topics.items():
        target = out_dir / f"{topic}.yaml"
        existing = _existing(target, force)
        old = {q.get("id"): q for q in existing.get("questions") or [] if isinstance(q, dict)}
        added = sum(e["id"] not in old for e in entries)
        old.update({e["id"]: e for e in entries})
        document = {"topic": topic, "title": existing.get("title") or topic.replace("-", " ").capitalize(),
                    "questions": list(old.values())}
        if existing.get("description"):
            document["description"] = existing["description"]
        _replace(target, MARKER + "\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110))
        written.append((target, added, len(entries) - added))
    return written


def _existing(target: Path, force: bool) -> dict[str, Any]:
    if not os.path.lexists(target):
        return {}
    try:
        text = read_regular_text(target, MAX_IMPORT_BYTES)
    except InputProblem as exc:
        raise ImportProblem(f"{target} exists and cannot be read ({exc}): choose another --out") from None
    if not text.startswith(MARKER):
        if not force:
            raise ImportProblem(f"{target} exists and was not written by studybot bank import: choose another "
                                "--out, or pass --force to replace it")
        return {}
    try:
        loaded = construct_yaml(compose_yaml(text))
    except InputProblem as exc:
        raise ImportProblem(f"{target} is not valid YAML any more ({exc}): fix it or move it away",
                            line=exc.line) from None
    return loaded if isinstance(loaded, dict) else {}


def _replace(target: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(name, target)
    finally:
        if os.path.exists(name):
            os.unlink(name)


__all__ = ["FORMATS", "ImportProblem", "ImportResult", "detect", "read_file", "write"]
