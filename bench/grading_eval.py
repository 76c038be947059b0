"""Grader quality on the held-out answers in tests/data/grading_eval.jsonl.

Prints the AUC of correct answers against wrong and off-topic ones, the share of each label told correct,
partly right, not sure and not quite, the mean score per label, and the time per answer.   .venv/bin/python bench/grading_eval.py [FILE.jsonl]

FILE defaults to the held-out set; ../shared/grader_dev.jsonl (bank_id, label `offtopic`) is read as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import zlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.bank import Bank, Question, load_bank  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.grading import PASS_SCORE, grade  # noqa: E402
from bot.judge import Grader, grader_for  # noqa: E402

LABELS = ("correct", "partial", "wrong", "off_topic")


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def _normalise(item: dict[str, str]) -> dict[str, str]:
    """Both file formats: question_id or bank_id; off_topic or offtopic."""
    item["question_id"] = item.get("question_id") or item["bank_id"]
    item["label"] = "off_topic" if item["label"] == "offtopic" else item["label"]
    return item


def _question(bank: Bank, item: dict[str, str]) -> Question:
    question = bank.get(item["question_id"])
    if question is None:
        raise SystemExit(f"unknown question id {item['question_id']!r} in the evaluation file")
    return question


def half_of(question_id: str) -> int:
    """A stable split of the bank entries in two halves, to check that a rule holds on entries it was not
    chosen on."""
    return zlib.crc32(question_id.encode()) % 2


def evaluate(eval_file: Path = ROOT / "tests" / "data" / "grading_eval.jsonl",
             grader: Grader | None = None, half: int | None = None) -> dict[str, object]:
    """Figures on the labelled answers in `eval_file`; with `half`, only on that half of the bank entries."""
    return asyncio.run(_evaluate(eval_file, grader or Grader(), half))


async def _evaluate(eval_file: Path, grader: Grader, half: int | None = None) -> dict[str, object]:
    bank = load_bank(ROOT / "questions")
    items = [_normalise(json.loads(line)) for line in eval_file.read_text().splitlines() if line.strip()]
    items = [item for item in items if half is None or half_of(item["question_id"]) == half]
    scores: dict[str, list[float]] = {label: [] for label in LABELS}
    told: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    times = []
    for item in items:  # warm: a question's key points are compiled once, on first use
        grade(_question(bank, item), "")
    try:
        for item in items:
            question = _question(bank, item)
            t0 = time.perf_counter()
            verdict = await grader.grade(question, item["answer"])
            times.append(time.perf_counter() - t0)
            scores[item["label"]].append(verdict.score)
            told[item["label"]][verdict.label] += 1
    finally:
        await grader.close()
    return {
        "answers": len(items),
        "auc_correct_vs_wrong_and_off_topic": auc(scores["correct"], scores["wrong"] + scores["off_topic"]),
        "auc_correct_vs_wrong": auc(scores["correct"], scores["wrong"]),
        "auc_correct_vs_partial": auc(scores["correct"], scores["partial"]),
        "mean": {label: statistics.mean(v) for label, v in scores.items()},
        "pass_rate": {label: sum(s >= PASS_SCORE for s in v) / len(v) for label, v in scores.items()},
        "told": {label: {k: n / max(1, sum(c.values())) for k, n in c.items()} for label, c in told.items()},
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": sorted(times)[int(len(times) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Grader quality on labelled answers.")
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "tests" / "data" / "grading_eval.jsonl")
    parser.add_argument("--grader", choices=["offline", "llm"], default="offline",
                        help="llm: the judge the STUDYBOT_LLM_* settings describe (falls back to offline)")
    parser.add_argument("--halves", action="store_true",
                        help="also print the figures on each half of the bank entries (a stable split by id)")
    args = parser.parse_args()
    settings = Settings.load()
    for half in (None, 0, 1) if args.halves else (None,):
        chosen = grader_for(replace(settings, grader=args.grader)) if args.grader == "llm" else Grader()
        _print(args.file, args.grader, evaluate(args.file, chosen, half), half)


def _print(file: Path, grader: str, result: dict[str, object], half: int | None) -> None:
    part = "" if half is None else f", bank entries of half {half}"
    print(f"{result['answers']} labelled answers ({file.name}{part}); grader {grader}; pass mark {PASS_SCORE}")
    for key in ("auc_correct_vs_wrong_and_off_topic", "auc_correct_vs_wrong", "auc_correct_vs_partial"):
        print(f"{key:<40} {result[key]:.3f}")
    print(f"{'answer written as':<14}{'told correct':>14}{'partly right':>14}{'not sure':>10}{'not quite':>11}"
          "   mean score")
    for label in LABELS:
        told = result["told"][label]  # type: ignore[index]
        print(f"{label:<14}{told.get('correct', 0):>14.0%}{told.get('partial', 0):>14.0%}"
              f"{told.get('unsure', 0):>10.0%}{told.get('incorrect', 0):>11.0%}"
              f"   {result['mean'][label]:.2f}")  # type: ignore[index]
    print(f"time per answer: median {result['median_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
