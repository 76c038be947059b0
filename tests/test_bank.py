from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bank import bank_figures, load_bank, strict_issues
from bot.errors import BankError, UnknownTopic
from bot.tools import bank_check
from tests.conftest import FIXTURE_BANK, ROOT, SHIPPED_BANK

GOOD = """topic: {topic}
title: {title}
questions:
"""
ENTRY = """  - id: {id}
    question: What is {id}?
    difficulty: {difficulty}
    answer: {answer}
    key_points:
      - point: one
        accept: [one]
      - point: two
        accept: [two]
    choices:
      correct: right
      wrong: [w1, w2, w3]
"""


def write(tmp: Path, name: str, topic: str, entries: list[dict[str, str]]) -> None:
    text = GOOD.format(topic=topic, title=topic.title())
    for e in entries:
        text += ENTRY.format(**{"difficulty": "easy", "answer": "an answer", **e})
    (tmp / name).write_text(text)


def test_shipped_bank_passes_strict_check() -> None:
    bank = load_bank(SHIPPED_BANK)
    assert strict_issues(bank) == []
    assert len(bank) >= 20 and len(bank.topics) >= 4


def test_fixture_bank_loads(bank) -> None:  # type: ignore[no-untyped-def]
    assert set(bank.topics) == {"training", "statistics"}
    assert bank.questions["vanishing-gradients"].choices is not None


def test_broken_bank_names_file_id_and_field(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "alpha", [{"id": "shared-id"}, {"id": "no-answer", "answer": "''"}])
    write(tmp_path, "b.yaml", "beta", [{"id": "shared-id"}, {"id": "bad-level", "difficulty": "extreme"}])
    with pytest.raises(BankError) as err:
        load_bank(tmp_path)
    text = str(err.value)
    assert "a.yaml" in text and "b.yaml" in text
    assert "question 'no-answer': field 'answer': is required" in text
    assert "question 'bad-level': field 'difficulty': must be one of easy, medium, hard (got 'extreme')" in text
    assert "question 'shared-id': field 'id': duplicate id" in text
    # every issue carries the line YAML gave
    assert all(issue.line is not None for issue in err.value.issues)


def test_bank_check_command_exits_1_and_lists_each_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "alpha", [{"id": "shared-id"}, {"id": "no-answer", "answer": "''"}])
    write(tmp_path, "b.yaml", "beta", [{"id": "shared-id"}, {"id": "bad-level", "difficulty": "extreme"}])
    proc = subprocess.run([sys.executable, "-m", "adapters.app", "bank", "check", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 1
    for needle in ("b.yaml", "'shared-id'", "'no-answer'", "field 'answer'", "'bad-level'", "field 'difficulty'"):
        assert needle in proc.stdout


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("topic: x\ntitle: X\nquestions:\n  - id: a\n    question: [unclosed\n")
    with pytest.raises(BankError) as err:
        load_bank(tmp_path)
    issue = err.value.issues[0]
    assert issue.file.endswith("x.yaml") and issue.line is not None and "invalid YAML" in issue.message


def test_strict_check_catches_editorial_problems(tmp_path: Path) -> None:
    text = GOOD.format(topic="alpha", title="Alpha") + """  - id: latex-one
    question: What is \\frac{a}{b}?
    difficulty: easy
    answer: "x"
    key_points:
      - point: only one
    choices:
      correct: same
      wrong: [same, other]
"""
    (tmp_path / "a.yaml").write_text(text)
    bank = load_bank(tmp_path)  # loads (non-strict), LaTeX turned into Unicode for chat
    assert "\\frac" not in bank.questions["latex-one"].question
    out = io.StringIO()
    assert bank_check(tmp_path, strict=True, out=out) == 1
    report = out.getvalue()
    assert "needs at least 2 key points" in report and "duplicate options" in report


def test_raw_latex_is_rejected_in_strict_mode(tmp_path: Path) -> None:
    text = GOOD.format(topic="alpha", title="Alpha") + ENTRY.format(
        id="ok-one", difficulty="easy", answer="'Variance is $\\sigma^2$ here'")
    (tmp_path / "a.yaml").write_text(text)
    bank = load_bank(tmp_path)
    assert "σ" in bank.questions["ok-one"].answer
    # raw LaTeX in the file is converted on load, so chat never sees it
    assert "$" not in bank.questions["ok-one"].answer


def test_giveaway_rate_counts_strictly_longest_correct(bank) -> None:  # type: ignore[no-untyped-def]
    figures = bank_figures(bank)
    expected = sum(1 for q in bank.questions.values()
                   if q.choices and len(q.choices.correct) > max(map(len, q.choices.wrong)))
    assert figures.longest_correct == expected
    assert figures.with_choices == len(bank)


def test_topic_lookup_by_slug_title_and_fuzzy(bank) -> None:  # type: ignore[no-untyped-def]
    assert bank.find_topic("TRAINING").slug == "training"
    assert bank.find_topic("statistics basics").slug == "statistics"
    with pytest.raises(UnknownTopic) as err:
        bank.find_topic("statistcs")
    assert err.value.suggestions[0] == "statistics"


def test_fixture_bank_check_passes() -> None:
    out = io.StringIO()
    assert bank_check(FIXTURE_BANK, strict=True, out=out) == 0
    assert "strict check passed" in out.getvalue()


def test_topic_lookup_by_unique_prefix_or_word(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "transformers-llm", [{"id": "one"}])
    write(tmp_path, "b.yaml", "deep-learning", [{"id": "two"}])
    write(tmp_path, "c.yaml", "machine-learning", [{"id": "three"}])
    bank = load_bank(tmp_path)
    assert bank.find_topic("transformers").slug == "transformers-llm"  # a prefix of the slug
    assert bank.find_topic("LLM").slug == "transformers-llm"  # a word of the slug
    assert bank.find_topic("mach").slug == "machine-learning"
    with pytest.raises(UnknownTopic) as err:
        bank.find_topic("learning")  # two topics have that word: ask, do not guess
    assert set(err.value.suggestions) >= {"deep-learning", "machine-learning"}


def test_every_seed_question_is_covered_by_an_entry() -> None:
    seeds = ROOT.parent / "shared" / "seed_questions.tsv"
    if not seeds.is_file():
        pytest.skip("../shared/seed_questions.tsv is not beside the checkout")
    import csv

    with seeds.open(encoding="utf-8") as fh:
        wanted = {r["id"] for r in csv.DictReader(fh, delimiter="\t") if not r["dup_of"]}
    bank = load_bank(SHIPPED_BANK)
    covered = {s for q in bank.questions.values() for s in q.source}
    assert wanted and not wanted - covered


def test_option_balance_limits_fail_the_strict_check(tmp_path: Path) -> None:
    entries = [{"id": f"q{i}"} for i in range(4)]
    write(tmp_path, "a.yaml", "alpha", entries)
    text = (tmp_path / "a.yaml").read_text().replace("wrong: [w1, w2, w3]", "wrong: [always w1, never w2, w3]")
    (tmp_path / "a.yaml").write_text(text.replace("correct: right", "correct: the right one, longest"))
    bank = load_bank(tmp_path)
    figures = bank_figures(bank)
    assert figures.absolute_wrong_pct > 60 and figures.absolute_correct_pct == 0 and figures.longest_pct == 100
    found = [str(i) for i in strict_issues(bank)]
    assert any("absolute words" in f and "at most 5" in f for f in found)
    assert any("strictly the longest in 100.0%" in f for f in found)
    out = io.StringIO()
    assert bank_check(tmp_path, strict=True, out=out) == 1
    assert "absolute words (only, always, never...): correct options 0/4" in out.getvalue()
