"""Strict editorial checks (`studybot bank check --strict`) and bank-wide figures."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bot.bank.model import Bank, Question
from bot.errors import BankIssue
from bot.text import has_raw_latex

LIMITS = {"question": 300, "answer": 600, "explanation": 2500}
MAX_CODE_LINES = 25
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def _texts(q: Question) -> dict[str, str]:
    texts = {"question": q.question, "answer": q.answer, "explanation": q.explanation}
    if q.choices:
        texts["choices"] = "\n".join(q.choices.options)
    texts["key_points"] = "\n".join(k.point for k in q.key_points)
    return texts


def _question_issues(q: Question) -> list[BankIssue]:
    found: list[BankIssue] = []

    def bad(field: str, message: str) -> None:
        found.append(BankIssue(q.file, message, line=q.line, question_id=q.id, field=field))

    if len(q.key_points) < 2:
        bad("key_points", f"needs at least 2 key points (has {len(q.key_points)})")
    if len(q.key_points) > 5:
        bad("key_points", f"has {len(q.key_points)} key points (at most 5)")
    if q.choices is None:
        bad("choices", "multiple-choice options are missing")
    else:
        options = [o.strip() for o in q.choices.options]
        if any(not o for o in options):
            bad("choices", "has an empty option")
        if len({o.lower() for o in options}) != len(options):
            bad("choices", "has duplicate options")
    for field, text in _texts(q).items():
        limit = LIMITS.get(field)
        if limit and len(text) > limit:
            bad(field, f"is {len(text)} characters (at most {limit})")
        if has_raw_latex(text):
            bad(field, "contains raw LaTeX; write formulas in Unicode")
        if _TABLE_ROW.search(text) and _TABLE_RULE.search(text):
            bad(field, "contains a markdown table; chat platforms do not render tables")
        for block in _FENCE.findall(text):
            if block.rstrip("\n").count("\n") + 1 > MAX_CODE_LINES:
                bad(field, f"has a code block longer than {MAX_CODE_LINES} lines")
    return found


def strict_issues(bank: Bank) -> list[BankIssue]:
    return [issue for q in bank.questions.values() for issue in _question_issues(q)]


@dataclass(frozen=True)
class BankFigures:
    per_topic: dict[str, Counter[str]]
    total: int
    with_choices: int
    longest_correct: int

    @property
    def giveaway_rate(self) -> float:
        return self.longest_correct / self.with_choices if self.with_choices else 0.0

    def render(self) -> str:
        lines = [f"{'topic':<28}{'easy':>6}{'medium':>8}{'hard':>6}{'total':>7}"]
        overall: Counter[str] = Counter()
        for slug, counts in sorted(self.per_topic.items()):
            overall.update(counts)
            lines.append(f"{slug:<28}{counts['easy']:>6}{counts['medium']:>8}{counts['hard']:>6}"
                         f"{sum(counts.values()):>7}")
        lines.append(f"{'all':<28}{overall['easy']:>6}{overall['medium']:>8}{overall['hard']:>6}{self.total:>7}")
        share = {d: 100 * overall[d] / self.total for d in ("easy", "medium", "hard")} if self.total else {}
        lines.append("difficulty share: " + ", ".join(f"{d} {v:.0f}%" for d, v in share.items()))
        lines.append(f"with choices: {self.with_choices}/{self.total} "
                     f"({100 * self.with_choices / max(self.total, 1):.0f}%)")
        lines.append(f"length giveaway (correct option strictly longest): {self.longest_correct}/"
                     f"{self.with_choices} ({100 * self.giveaway_rate:.1f}%; chance with 4 options: 25%)")
        return "\n".join(lines)


def bank_figures(bank: Bank) -> BankFigures:
    per_topic: dict[str, Counter[str]] = {}
    longest = with_choices = 0
    for q in bank.questions.values():
        per_topic.setdefault(q.topic, Counter())[q.difficulty] += 1
        if q.choices:
            with_choices += 1
            if len(q.choices.correct) > max(len(w) for w in q.choices.wrong):
                longest += 1
    return BankFigures(per_topic, len(bank.questions), with_choices, longest)
