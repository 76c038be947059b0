"""Trivia formats: Open Trivia DB JSON, Red-DiscordBot trivia lists, Moodle GIFT."""

from __future__ import annotations

import json
import re

from bot.importers.model import Imported, ImportProblem, html_to_text
from bot.inputs import InputProblem, compose_yaml, construct_yaml


def read_opentdb(text: str) -> list[Imported]:
    """`{"results": [{"question", "correct_answer", "incorrect_answers", "difficulty", "category"}]}`, with
    HTML entities in the strings."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise ImportProblem(f"not valid JSON: {getattr(exc, 'msg', 'nested too deeply')}", line=line) from None
    results = data.get("results") if isinstance(data, dict) else data
    if not isinstance(results, list):
        raise ImportProblem('expected Open Trivia DB JSON: {"results": [{"question": ..., "correct_answer": ...}]}')
    items = []
    for number, item in enumerate(results, 1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) \
                or not isinstance(item.get("correct_answer"), str):
            raise ImportProblem(f"result {number} needs question and correct_answer text")
        wrong = item.get("incorrect_answers") or []
        if not isinstance(wrong, list):
            raise ImportProblem(f"result {number}: incorrect_answers must be a list")
        correct = html_to_text(item["correct_answer"])
        items.append(Imported(
            question=html_to_text(item["question"]), answer=correct, correct=correct,
            wrong=[html_to_text(str(w)) for w in wrong], difficulty=str(item.get("difficulty") or "") or None))
    return items


def read_red(text: str) -> list[Imported]:
    """Red-DiscordBot trivia: `question: [accepted answer, ...]` (an AUTHOR key is skipped)."""
    try:
        node = compose_yaml(text)
        data = construct_yaml(node)
    except InputProblem as exc:
        raise ImportProblem(str(exc), line=exc.line) from None
    if not isinstance(data, dict):
        raise ImportProblem("expected a Red trivia list: question: [accepted answers]", line=1)
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in getattr(node, "value", [])}
    items = []
    for question, answers in data.items():
        if str(question).upper() == "AUTHOR":
            continue
        accepted = [str(a).strip() for a in (answers if isinstance(answers, list) else [answers]) if str(a).strip()]
        if not accepted:
            raise ImportProblem(f"no accepted answer for “{str(question)[:60]}”", line=lines.get(str(question)))
        items.append(Imported(question=str(question), answer=accepted[0], accepted=accepted,
                              line=lines.get(str(question))))
    return items


_GIFT_ESCAPES = re.compile(r"\\([:~=#{}])")
_GIFT_TITLE = re.compile(r"^::(.*?)::", re.S)
_GIFT_TOKEN = re.compile(r"(?<!\\)([=~])")


def _unescape(text: str) -> str:
    return _GIFT_ESCAPES.sub(r"\1", text).strip()


def read_gift(text: str) -> list[Imported]:
    """Moodle GIFT: multiple choice (`{=right ~wrong ~wrong}`), short answer (`{=a =b}`) and true/false."""
    items = []
    for block, line in _gift_blocks(text):
        body = _GIFT_TITLE.sub("", block).strip()
        start, end = _brace(body, "{"), _brace(body, "}")
        if start < 0 or end < start:
            raise ImportProblem("a GIFT question needs its answers in { }", line=line)
        question = _unescape(body[:start] + body[end + 1:])
        inside = body[start + 1:end].strip()
        if re.fullmatch(r"(?i)t(rue)?|f(alse)?", inside.split("#")[0].strip()):
            truth = inside.strip().lower().startswith("t")
            items.append(Imported(question=question, answer="True" if truth else "False", line=line))
            continue
        parts = [p for p in _GIFT_TOKEN.split(inside) if p.strip()]
        right: list[str] = []
        wrong: list[str] = []
        for marker, raw in zip(parts[::2], parts[1::2], strict=False):
            value = re.sub(r"^%-?\d+(\.\d+)?%", "", raw.split("#")[0]).strip()  # weights and feedback dropped
            if marker not in "=~" or not value:
                raise ImportProblem("answers in { } start with = (right) or ~ (wrong)", line=line)
            (right if marker == "=" else wrong).append(_unescape(value))
        if not right:
            raise ImportProblem("no right answer (=...) in { }", line=line)
        items.append(Imported(question=question, answer=right[0], accepted=right, line=line,
                              correct=right[0] if wrong else None, wrong=wrong))
    return items


def _brace(text: str, brace: str) -> int:
    """The first unescaped `brace` in `text`, or -1."""
    for i, char in enumerate(text):
        if char == brace and (i == 0 or text[i - 1] != "\\"):
            return i
    return -1


def _gift_blocks(text: str) -> list[tuple[str, int]]:
    """Questions are separated by blank lines; `//` lines are comments; `$CATEGORY:` lines are skipped."""
    blocks: list[tuple[str, int]] = []
    current: list[str] = []
    start = 1
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        stripped = raw.strip()
        if stripped.startswith(("//", "$CATEGORY:")):
            continue
        if not stripped:
            if current:
                blocks.append(("\n".join(current), start))
                current = []
            continue
        if not current:
            start = number
        current.append(raw)
    return blocks
