"""The console end to end, through piped stdin, as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def console(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "STUDYBOT_"))}
    environ.update({"STUDYBOT_DATABASE": str(tmp_path / "console.sqlite3"), **env})
    return subprocess.run([sys.executable, "-m", "adapters.app", "console"], input=script, capture_output=True,
                          text=True, cwd=ROOT, env=environ, timeout=120, check=False)


def test_four_members_one_question_one_winner(tmp_path: Path) -> None:
    script = "/as alice\n/quiz\n/press 1\n/as bob\n/press 2\n/as carol\n/press 3\n/as dave\n/press 4\n/leaderboard\n"
    proc = console(tmp_path, script)
    assert proc.returncode == 0, proc.stderr
    board = proc.stdout.split("── Leaderboard")[1]
    scored = [line for line in board.splitlines() if " pts" in line]
    assert len(scored) == 1
    assert any(name in scored[0] for name in ("alice", "bob", "carol", "dave"))
    assert proc.stdout.count("✅ Correct!") == 1


def test_advance_a_week_posts_five_questions_and_one_digest(tmp_path: Path) -> None:
    proc = console(tmp_path, "/advance 7d\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("=== Daily question") == 5
    assert proc.stdout.count("=== Weekly digest") == 1
    # running again on the same database does not post again for days already done
    again = console(tmp_path, "/daily\n")
    assert "=== Daily question" not in again.stdout


def test_words_answer_and_friendly_errors(tmp_path: Path) -> None:
    script = ("/quiz no-such-topic\n/press 9\n/quiz ml fundamentals\n/press 5\n"
              "I think it is about overfitting and the bias variance tradeoff\n/stats\n/advance soon\n/advance 7000d\n")
    proc = console(tmp_path, script)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "I don't know the topic “no-such-topic”" in out
    assert "There is nothing to press yet." in out
    assert "Type your answer" in out
    assert "Score:" in out  # the free-text answer was graded
    assert "── Stats for you ──" in out
    assert "Durations look like" in out
    assert "You can advance at most 90 days at a time." in out
    assert "Traceback" not in out + proc.stderr


def test_broken_bank_stops_start_up_with_the_check_message(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "x.yaml").write_text("topic: x\ntitle: X\nquestions:\n  - id: a\n    question: Q?\n    difficulty: wild\n")
    proc = console(tmp_path, "", STUDYBOT_QUESTIONS=str(bank))
    assert proc.returncode == 1
    assert "question 'a': field 'difficulty'" in proc.stderr
