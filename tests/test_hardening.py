"""Regression tests for the edges a careless operator or a hostile user reaches: nothing the bot writes can
destroy data, `config check` fails where `run` would, and ordinary mistakes get one clear line."""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import ops
from adapters.console.app import ConsoleApp, parse_duration
from bot import healthfile
from bot.bank import load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import BankError, ConfigError, UserError
from bot.service import StudyService
from bot.storage import open_database
from tests.conftest import FIXTURE_BANK, ROOT, actor

DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.secret-part-of-the-discord-token"


def studybot(*args: str, cwd: Path, stdin: str = "", timeout: float = 60,
             **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "STUDYBOT_"))}
    environ.update({"STUDYBOT_QUESTIONS": str(FIXTURE_BANK), "PYTHONPATH": str(ROOT), **env})
    return subprocess.run([sys.executable, "-m", "adapters.app", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env=environ, timeout=timeout, check=False)


def make_database(path: Path) -> None:
    async def create() -> None:
        db = await open_database(path)
        await db.close()
    asyncio.run(create())


# ----------------------------------------------------------------- data the bot must never destroy
def test_health_file_on_the_database_is_refused_and_the_database_kept(tmp_path: Path) -> None:
    db = tmp_path / "studybot.sqlite3"
    make_database(db)
    before = db.read_bytes()
    for health in (db, Path(f"{db}-wal"), tmp_path / "." / "studybot.sqlite3"):
        check = studybot("config", "check", cwd=tmp_path, STUDYBOT_DATABASE=str(db), STUDYBOT_HEALTH_FILE=str(health))
        assert check.returncode == 1 and "STUDYBOT_HEALTH_FILE" in check.stderr and "database" in check.stderr
        run = studybot("run", cwd=tmp_path, stdin="/quit\n", STUDYBOT_DATABASE=str(db),
                       STUDYBOT_HEALTH_FILE=str(health))
        assert run.returncode == 1 and "Traceback" not in run.stderr
    assert db.read_bytes() == before


def test_health_file_never_removes_or_rewrites_a_file_that_is_not_its_own(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert healthfile.problems(notes, tmp_path / "db.sqlite3")
    assert healthfile.beat(notes) is False
    healthfile.remove(notes)
    assert notes.read_text() == "my notes\n"
    ours = tmp_path / "run" / "studybot.health"
    assert healthfile.problems(ours, tmp_path / "db.sqlite3") == []
    assert healthfile.beat(ours) and healthfile.beat(ours)
    assert healthfile.problems(ours, tmp_path / "db.sqlite3") == []  # a left-over heartbeat is fine
    healthfile.remove(ours)
    assert not ours.exists()


def test_backup_never_replaces_what_is_not_a_regular_file_and_needs_force(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    make_database(db)
    unrelated = tmp_path / "thesis.txt"
    unrelated.write_text("years of work")
    with pytest.raises(ConfigError, match=r"already exists.*--force"):
        ops.backup(db, unrelated)
    assert unrelated.read_text() == "years of work"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.sqlite3"
    link.symlink_to(unrelated)
    for target in (fifo, link, Path("/dev/null")):
        with pytest.raises(ConfigError, match="not a regular file"):
            ops.backup(db, target, force=True)
    assert unrelated.read_text() == "years of work" and fifo.is_fifo()
    with pytest.raises(ConfigError, match="live database"):
        ops.backup(db, db, force=True)
    report = ops.backup(db, unrelated, force=True)  # explicit --force on a regular file replaces it
    assert report.target == unrelated and sqlite3.connect(unrelated).execute("PRAGMA user_version").fetchone()[0]
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_two_backups_into_one_folder_in_the_same_second_get_two_files(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    make_database(db)
    folder = tmp_path / "backups"
    folder.mkdir()
    first, second = (ops.backup(db, folder).target for _ in range(2))
    assert first != second and first.exists() and second.exists()
    # Through the CLI, at the same moment.
    procs = [subprocess.Popen([sys.executable, "-m", "adapters.app", "db", "backup", str(folder)], cwd=ROOT,
                              env={**os.environ, "STUDYBOT_DATABASE": str(db)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(3)]
    assert all(p.wait(60) == 0 for p in procs)
    assert len(list(folder.glob("studybot-*.sqlite3"))) == 5


def test_export_does_not_replace_files_without_force(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    make_database(db)
    out = tmp_path / "out"
    out.mkdir()
    (out / "attempts.csv").write_text("someone else's spreadsheet")
    with pytest.raises(ConfigError, match="already exists"):
        ops.export_csv(db, out)
    assert (out / "attempts.csv").read_text() == "someone else's spreadsheet"
    ops.export_csv(db, out, force=True)
    assert (out / "attempts.csv").read_text().startswith("attempt_id,")
    cli = studybot("db", "export", "--out", str(out), cwd=tmp_path, STUDYBOT_DATABASE=str(db))
    assert cli.returncode == 1 and "--force" in cli.stderr and "Traceback" not in cli.stderr


# ----------------------------------------------------------------- config check == run's start-up checks
@pytest.mark.parametrize("case", ["empty bank", "database is a folder", "database folder unwritable",
                                  "health file is not ours", "broken bank"])
def test_config_check_fails_where_run_fails(tmp_path: Path, case: str) -> None:
    env = {"STUDYBOT_DATABASE": str(tmp_path / "db.sqlite3")}
    if case == "empty bank":
        (tmp_path / "bank").mkdir()
        env["STUDYBOT_QUESTIONS"] = str(tmp_path / "bank")
    elif case == "database is a folder":
        (tmp_path / "db.sqlite3").mkdir()
    elif case == "database folder unwritable":
        (tmp_path / "file").write_text("x")
        env["STUDYBOT_DATABASE"] = str(tmp_path / "file" / "db.sqlite3")  # a parent that is a file
    elif case == "health file is not ours":
        (tmp_path / "config.yaml").write_text("timezone: UTC\n")
        env["STUDYBOT_HEALTH_FILE"] = str(tmp_path / "config.yaml")
    else:
        (tmp_path / "bank").mkdir()
        (tmp_path / "bank" / "t.yaml").write_text("topic: t\ntitle: T\nquestions:\n  - id: x\n")
        env["STUDYBOT_QUESTIONS"] = str(tmp_path / "bank")
    check = studybot("config", "check", cwd=tmp_path, **env)
    run = studybot("run", cwd=tmp_path, stdin="/quit\n", **env)
    assert check.returncode == 1 and run.returncode == 1, (check.stderr, run.stderr)
    assert "Traceback" not in check.stderr + run.stderr
    assert (tmp_path / "config.yaml").exists() or case != "health file is not ours"
    good = studybot("config", "check", cwd=tmp_path, STUDYBOT_DATABASE=str(tmp_path / "new" / "db.sqlite3"))
    assert good.returncode == 0, good.stderr
    assert not (tmp_path / "new").exists()  # config check creates nothing


def test_setting_values_are_never_echoed(tmp_path: Path) -> None:
    for name in ("STUDYBOT_SLACK_PORT", "STUDYBOT_CATCHUP_HOURS", "STUDYBOT_SHUTDOWN_GRACE", "STUDYBOT_TIMEZONE",
                 "STUDYBOT_PLATFORM", "STUDYBOT_LOG_LEVEL", "STUDYBOT_DISCORD_API_BASE", "STUDYBOT_DISCORD_GUILD",
                 "STUDYBOT_DISCORD_GATEWAY_URL", "STUDYBOT_SLACK_API_URL", "STUDYBOT_DISCORD_APP_ID"):
        proc = studybot("config", "check", cwd=tmp_path, **{name: DISCORD})
        assert proc.returncode == 1, name
        assert DISCORD not in proc.stdout + proc.stderr and "secret-part" not in proc.stderr, name
        assert name in proc.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("slack_port: [1, 2]\n", "STUDYBOT_SLACK_PORT must be a port number"),
    ("database: {a: 1}\n", "STUDYBOT_DATABASE must be a database file path"),
    ("log_format: no\n", "put the value in quotes"),
    ("catchup_hours: .nan\n", "STUDYBOT_CATCHUP_HOURS"),
    ("shutdown_grace: 1e400\n", "STUDYBOT_SHUTDOWN_GRACE"),
    ("slack_port: 99999999999999999999999999999999999999\n", "STUDYBOT_SLACK_PORT"),
    ("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\n"
     "f: [*e, *e, *e, *e, *e, *e, *e, *e]\n", "expands to more than"),
])
def test_config_file_of_the_wrong_shape_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "studybot.yaml"
    file.write_text(text)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=message):
        Settings.load({}, file)
    assert time.perf_counter() - started < 2


def test_config_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "studybot.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        Settings.load({}, fifo)


# ----------------------------------------------------------------- the bank folder
def test_bank_folder_with_a_symlink_loop_a_fifo_and_an_alias_bomb(tmp_path: Path) -> None:
    for f in FIXTURE_BANK.glob("*.yaml"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "bomb.yaml").write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n")
    (tmp_path / "latin1.yaml").write_bytes(b"topic: caf\xe9\n")
    started = time.perf_counter()
    with pytest.raises(BankError) as err:
        load_bank(tmp_path)
    assert time.perf_counter() - started < 5
    text = str(err.value)
    assert "loop.yaml" in text and "pipe.yaml: not a regular file" in text
    assert "bomb.yaml:6: the YAML expands to more than" in text
    assert "latin1.yaml:1: not valid UTF-8" in text
    proc = studybot("bank", "check", str(tmp_path), cwd=tmp_path, timeout=30)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr


def test_bank_path_that_is_a_file_or_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "loop", tmp_path / "file"):
        with pytest.raises(BankError, match="STUDYBOT_QUESTIONS"):
            load_bank(path)


# ----------------------------------------------------------------- console and chat input
def test_console_numbers_in_other_scripts_and_huge_numbers_are_friendly() -> None:
    for text in ("1d" * 100, "9" * 500 + "d", "٣d", "1e400d", "²d", "99999999w"):
        with pytest.raises(UserError):
            parse_duration(text)
    assert parse_duration("1d12h").total_seconds() == 36 * 3600


async def test_console_survives_odd_lines(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    db = await open_database(tmp_path / "c.sqlite3")
    try:
        service = StudyService(db, load_bank(FIXTURE_BANK), clock, rng=random.Random(1))
        await service.sync_bank()
        out = io.StringIO()
        app = ConsoleApp(service, clock, out=out)
        await app.start()
        for line in ("/press ²", "/press ٣", "/press " + "9" * 5000, "/advance " + "9" * 5000 + "d", "/advance ٣d",
                     "/studybot setup 09:00 America", "/studybot setup 25:99", "/quiz " + "x" * 3000,
                     "x" * 5000, '/as "unclosed', "/as " + "\udcff", "/stats \x00"):
            await app.handle(line)
        text = out.getvalue()
        assert "Traceback" not in text
        assert text.count("⚠") == 9  # the first nine lines are mistakes; the rest are odd but valid
        assert "keep it under 4000 characters" in text
    finally:
        await db.close()


def test_invalid_utf8_and_very_long_lines_on_stdin(tmp_path: Path) -> None:
    environ = {**os.environ, "STUDYBOT_DATABASE": str(tmp_path / "db.sqlite3"), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK)}
    script = b"/as \xff\xfe bob\n" + b"y" * 200_000 + b"\n/quiz\n/quit\n"
    proc = subprocess.run([sys.executable, "-m", "adapters.app", "console"], input=script, capture_output=True,
                          cwd=ROOT, env=environ, timeout=60, check=False)
    out = proc.stdout.decode("utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "too long" in out and "(you are now" in out and "question" in out.lower()
    assert b"Traceback" not in proc.stderr
    batch = subprocess.run([sys.executable, "-m", "adapters.app", "grade", "--batch"],
                           input=b'{"question_id": "vanishing-gradients", "answer": "\xff gradients shrink"}\n',
                           capture_output=True, cwd=ROOT, env=environ, timeout=60, check=False)
    assert batch.returncode == 0 and b'"score"' in batch.stdout, batch.stderr


def test_ctrl_c_stops_the_console_while_it_waits_for_input(tmp_path: Path) -> None:
    environ = {**os.environ, "STUDYBOT_DATABASE": str(tmp_path / "db.sqlite3"), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK)}
    proc = subprocess.Popen([sys.executable, "-m", "adapters.app", "console"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=environ)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while b"Type /help" not in proc.stdout.readline():
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()


# ----------------------------------------------------------------- two processes on one file
async def test_two_bots_on_one_file_answering_the_same_post(tmp_path: Path) -> None:
    """Each bot believes it is the only writer; when the other one got there first, the member is told
    'already answered' instead of seeing an error, and the answer counts once."""
    path = tmp_path / "shared.sqlite3"
    clock = ManualClock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    bank = load_bank(FIXTURE_BANK)
    first_db, second_db = await open_database(path), await open_database(path)
    try:
        first = StudyService(first_db, bank, clock, rng=random.Random(3))
        second = StudyService(second_db, bank, clock, rng=random.Random(3))
        await first.sync_bank()
        card = await first.quiz(actor("alice"), None, None)
        post = card.post_id
        assert post is not None
        await second.answer_text(actor("bob"), post, "an answer")  # second now caches who answered the post
        await first.answer_text(actor("carol"), post, "an answer")
        result = await second.answer_text(actor("carol"), post, "carol again, through the other bot")
        assert not result.recorded and "already" in result.feedback.body.lower()
        count = await second_db.fetchone("SELECT COUNT(*) FROM attempts WHERE post_id = ?", (post,))
        assert count is not None and count[0] == 2
    finally:
        await first_db.close()
        await second_db.close()
