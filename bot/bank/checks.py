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
# Words that let a test-taker eliminate an option without knowing the subject.
ABSOLUTE = re.compile(r"\b(only|all|every|always|never|exactly|must|cannot)\b", re.I)
MAX_ABSOLUTE_GAP = 5.0  # percentage points more wrong than correct options with an absolute word
MAX_LENGTH_TELL = 30.0  # percent of entries whose correct option is strictly the longest (or shortest)


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
    """Every entry's editorial problems, then the bank-wide option-balance limits."""
    issues = [issue for q in bank.questions.values() for issue in _question_issues(q)]
    return issues + bank_figures(bank).balance_issues()


def _percent(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


@dataclass(frozen=True)
class BankFigures:
    per_topic: dict[str, Counter[str]]
    total: int
    with_choices: int
    longest_correct: int
    shortest_correct: int = 0
    correct_absolute: int = 0  # correct options holding an absolute word
    wrong_absolute: int = 0
    wrong_options: int = 0
    source: str = "the bank"

    @property
    def giveaway_rate(self) -> float:
        return self.longest_correct / self.with_choices if self.with_choices else 0.0

    @property
    def absolute_correct_pct(self) -> float:
        return _percent(self.correct_absolute, self.with_choices)

    @property
    def absolute_wrong_pct(self) -> float:
        return _percent(self.wrong_absolute, self.wrong_options)

    @property
    def longest_pct(self) -> float:
        return _percent(self.longest_correct, self.with_choices)

    @property
    def shortest_pct(self) -> float:
        return _percent(self.shortest_correct, self.with_choices)

    def balance_issues(self) -> list[BankIssue]:
        """Bank-wide tells: options that can be eliminated by their wording or length alone."""
        found = []
        gap = self.absolute_wrong_pct - self.absolute_correct_pct
        if gap > MAX_ABSOLUTE_GAP:
            found.append(BankIssue(
                self.source, f"absolute words (only, always, never...) are in {self.absolute_wrong_pct:.1f}% of wrong "
                f"options but {self.absolute_correct_pct:.1f}% of correct ones: a gap of {gap:.1f} points "
                f"(at most {MAX_ABSOLUTE_GAP:.0f})", field="choices"))
        for what, pct in (("longest", self.longest_pct), ("shortest", self.shortest_pct)):
            if pct > MAX_LENGTH_TELL:
                found.append(BankIssue(self.source, f"the correct option is strictly the {what} in {pct:.1f}% of "
                                       f"entries (at most {MAX_LENGTH_TELL:.0f}%)", field="choices"))
        return found

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
        lines.append(f"length tell: correct option strictly longest {self.longest_correct}/{self.with_choices} "
                     f"({self.longest_pct:.1f}%), strictly shortest {self.shortest_correct}/{self.with_choices} "
                     f"({self.shortest_pct:.1f}%); limit {MAX_LENGTH_TELL:.0f}% each, chance with 4 options 25%")
        lines.append(f"absolute words (only, always, never...): correct options {self.correct_absolute}/"
                     f"{self.with_choices} ({self.absolute_correct_pct:.1f}%), wrong options {self.wrong_absolute}/"
                     f"{self.wrong_options} ({self.absolute_wrong_pct:.1f}%); gap "
                     f"{self.absolute_wrong_pct - self.absolute_correct_pct:+.1f} points, "
                     f"limit +{MAX_ABSOLUTE_GAP:.0f}")
        return "\n".join(lines)


def bank_figures(bank: Bank, source: str = "the bank") -> BankFigures:
    per_topic: dict[str, Counter[str]] = {}
    longest = shortest = with_choices = correct_abs = wrong_abs = wrong_total = 0
    for q in bank.questions.values():
        per_topic.setdefault(q.topic, Counter())[q.difficulty] += 1
        if q.choices:
            with_choices += 1
            correct, wrong = q.choices.correct, q.choices.wrong
            longest += len(correct) > max(len(w) for w in wrong)
            shortest += len(correct) < min(len(w) for w in wrong)
            correct_abs += bool(ABSOLUTE.search(correct))
            wrong_abs += sum(bool(ABSOLUTE.search(w)) for w in wrong)
            wrong_total += len(wrong)
    return BankFigures(per_topic, len(bank.questions), with_choices, longest, shortest, correct_abs, wrong_abs,
                       wrong_total, source)
