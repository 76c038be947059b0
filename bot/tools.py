"""Command-line tools of the core: bank check and the grader (no platform involved)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.bank import bank_figures, load_bank, strict_issues
from bot.errors import BankError
from bot.grading import grade


def bank_check(directory: Path, *, strict: bool, out: TextIO) -> int:
    """Print counts (and with --strict the editorial figures); 1 when anything is wrong."""
    try:
        bank = load_bank(directory)
    except BankError as exc:
        out.write(f"{exc}\n")
        return 1
    figures = bank_figures(bank)
    out.write(f"{len(bank.topics)} topics, {len(bank)} questions in {directory}\n")
    out.write(figures.render() + "\n")
    if strict:
        issues = strict_issues(bank)
        if issues:
            out.write(f"strict check failed with {len(issues)} problem(s):\n")
            out.writelines(f"  {issue}\n" for issue in issues)
            return 1
        out.write("strict check passed\n")
    return 0


def grade_lines(directory: Path, lines: Iterable[str], out: TextIO) -> int:
    """`grade --batch`: one JSON verdict per JSON input line, in order; bad lines get an error line."""
    bank = load_bank(directory)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            qid, answer = item["question_id"], item["answer"]
            if not isinstance(answer, str):
                raise TypeError("answer must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            out.write(json.dumps({"line": number, "error": f"bad input line: {exc}"}) + "\n")
            continue
        question = bank.questions.get(str(qid))
        if question is None:
            out.write(json.dumps({"question_id": qid, "error": f"unknown question id {qid!r}"}) + "\n")
            continue
        out.write(json.dumps({"question_id": qid, **grade(question, answer).as_dict()}, ensure_ascii=False) + "\n")
        out.flush()
    return 0


def grade_one(directory: Path, question_id: str, answer: str, out: TextIO) -> int:
    bank = load_bank(directory)
    question = bank.questions.get(question_id)
    if question is None:
        out.write(json.dumps({"question_id": question_id, "error": f"unknown question id {question_id!r}"}) + "\n")
        return 1
    out.write(json.dumps({"question_id": question_id, **grade(question, answer).as_dict()},
                         ensure_ascii=False, indent=2) + "\n")
    return 0
