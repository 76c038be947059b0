"""Operations: online backup while answers are written, CSV export, graceful shutdown (SIGTERM) and a crash
(kill -9) in the middle of a burst of answers, the health signal and the Discord invite link."""

from __future__ import annotations

import asyncio
import csv
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from adapters import ops
from adapters.serve import serve
from bot.bank import Bank
from bot.clock import SystemClock
from bot.config import Settings
from bot.messages import Message
from bot.service import Actor, AnswerResult, ChannelSettings, StudyService
from bot.storage import open_database
from tests.conftest import FIXTURE_BANK, ROOT

SECRETS = {"DISCORD_TOKEN": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
           "SLACK_BOT_TOKEN": "xoxb-1111-2222-burstsecret", "SLACK_APP_TOKEN": "xapp-1-A111-3333-appsecret"}


@pytest.fixture
def backend() -> str:
    """These tests are about the SQLite file (online backup, CSV of the file); tests/test_postgresql.py has
    PostgreSQL's side."""
    return "sqlite"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STUDYBOT_", "DISCORD_", "SLACK_", "BURST_"))}
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.app", *args], check=False, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd, timeout=60)


def sound(path: Path) -> None:
    """integrity_check passes, no dangling reference, and the trigger-kept totals match the attempts."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        attempts = conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM attempts").fetchone()
        totals = conn.execute("SELECT COALESCE(SUM(answered), 0), COALESCE(SUM(points), 0) FROM totals "
                              "WHERE period = 'all' AND topic = ''").fetchone()
        assert attempts == totals


def attempt_keys(path: Path) -> set[tuple[int, int]]:
    """(member number, post id) of every stored attempt of the burst's members u1, u2, ..."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT m.external_id, a.post_id FROM attempts a JOIN members m ON m.id = a.member_id")
        return {(int(ext[1:]), post) for ext, post in rows}


async def answer_once(service: StudyService, n: int) -> None:
    actor = Actor("test", "team", "general", f"u{n}", f"member {n}")
    card = await service.quiz(actor)
    assert card.post_id is not None
    choice = next((b.id for b in card.buttons if b.id.startswith(f"sb:a:{card.post_id}:")), None)
    result = (await service.press(actor, choice) if choice
              else await service.answer_text(actor, card.post_id, "a written answer"))
    assert isinstance(result, AnswerResult) and result.recorded


# ----------------------------------------------------------------- backup
async def test_backup_while_answers_are_being_written(tmp_path: Path, bank: Bank) -> None:
    live = tmp_path / "live.sqlite3"
    db = await open_database(live)
    service = StudyService(db, bank, SystemClock(), rng=random.Random(3))
    await service.sync_bank()
    acked = 0
    stop, warmed_up = asyncio.Event(), asyncio.Event()

    async def writer(worker: int) -> None:
        nonlocal acked
        n = worker
        while not stop.is_set():
            await answer_once(service, n)
            acked += 1
            if acked >= 20:
                warmed_up.set()
            n += 4

    writers = [asyncio.create_task(writer(k)) for k in range(4)]
    try:
        await asyncio.wait_for(warmed_up.wait(), 60)
        reports = []
        for i in range(3):
            before = acked
            report = await asyncio.to_thread(ops.backup, live, tmp_path / f"backup-{i}.sqlite3")
            assert report.attempts >= before
            reports.append(report)
        # The real command, from another process, while the writers keep going.
        before = acked
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.app", "db", "backup", str(tmp_path / "cli-backup.sqlite3"),
            env={**clean_env(STUDYBOT_DATABASE=str(live)), "PYTHONPATH": str(ROOT)}, cwd=str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "integrity ok" in out.decode()
        assert acked > before, "the writers kept writing while the command ran"
    finally:
        stop.set()
        await asyncio.gather(*writers)
        await db.close()
    assert reports[0].attempts <= reports[1].attempts <= reports[2].attempts <= acked
    check_backups([r.target for r in reports] + [tmp_path / "cli-backup.sqlite3"])


def check_backups(paths: list[Path]) -> None:
    for path in paths:
        sound(path)
        assert not Path(f"{path}-wal").exists(), "a backup is one self-contained file"
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert not list(path.parent.glob(".*partial*")), "no partial file is left behind"


def test_backup_refuses_a_missing_database_and_the_live_file(tmp_path: Path) -> None:
    env = clean_env(STUDYBOT_DATABASE=str(tmp_path / "missing.sqlite3"))
    proc = cli("db", "backup", str(tmp_path / "copy.sqlite3"), env=env)
    assert proc.returncode == 1
    assert "no database at" in proc.stderr
    assert not (tmp_path / "missing.sqlite3").exists(), "a mistyped path must not create a database"
    assert not (tmp_path / "copy.sqlite3").exists()
    live = tmp_path / "live.sqlite3"
    sqlite3.connect(live).close()
    proc = cli("db", "backup", str(live), env=clean_env(STUDYBOT_DATABASE=str(live)))
    assert proc.returncode == 1
    assert "live database" in proc.stderr


async def test_backup_into_a_folder_gets_a_timestamped_name(tmp_path: Path, service: StudyService) -> None:
    await answer_once(service, 1)
    folder = tmp_path / "backups"
    await asyncio.to_thread(folder.mkdir)
    report = await asyncio.to_thread(ops.backup, service.db.path, folder)
    assert report.target.parent == folder
    assert report.target.name.startswith("studybot-") and report.target.suffix == ".sqlite3"
    assert report.attempts == 1
    sound(report.target)


# ----------------------------------------------------------------- export
async def test_export_csv_has_attempts_and_leaderboards(tmp_path: Path, service: StudyService) -> None:
    for n in range(1, 4):
        await answer_once(service, n)
    sneaky = Actor("test", "team", "general", "u9", "=HYPERLINK(\"http://x\")")
    card = await service.quiz(sneaky)
    assert card.post_id is not None
    await service.answer_text(sneaky, card.post_id, "-1+2 is my answer")
    env = clean_env(STUDYBOT_DATABASE=str(service.db.path))
    proc = cli("db", "export", "--format", "csv", "--out", str(tmp_path / "export"), env=env)
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "export" / "attempts.csv").open(encoding="utf-8", newline="") as fh:
        attempts = list(csv.DictReader(fh))
    with (tmp_path / "export" / "leaderboards.csv").open(encoding="utf-8", newline="") as fh:
        boards = list(csv.DictReader(fh))
    assert len(attempts) == 4
    assert {a["member"] for a in attempts} == {"u1", "u2", "u3", "u9"}
    assert {a["platform"] for a in attempts} == {"test"}
    mine = next(a for a in attempts if a["member"] == "u9")
    # Spreadsheet formulas are defused; the text is otherwise kept.
    assert mine["member_name"] == "'=HYPERLINK(\"http://x\")"
    assert mine["answer_text"] == "'-1+2 is my answer"
    assert mine["mode"] == "text"
    overall = [b for b in boards if b["period"] == "all" and b["topic"] == ""]
    assert sorted(b["member"] for b in overall) == ["u1", "u2", "u3", "u9"]
    assert [int(b["rank"]) for b in overall] == [1, 2, 3, 4]
    points = [int(b["points"]) for b in overall]
    assert points == sorted(points, reverse=True)
    assert {b["period"] for b in boards} == {"all", "week", "month"}
    assert "wrote 4 rows" in proc.stdout


def test_export_of_a_missing_database_fails_cleanly(tmp_path: Path) -> None:
    proc = cli("db", "export", "--out", str(tmp_path), env=clean_env(STUDYBOT_DATABASE=str(tmp_path / "no.db")))
    assert proc.returncode == 1
    assert "no database at" in proc.stderr
    assert not (tmp_path / "attempts.csv").exists()


# ----------------------------------------------------------------- shutdown and crash
class Harness:
    """tests/burst_harness.py in a subprocess; stdout lines are collected by a thread."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.db = tmp_path / "studybot.sqlite3"
        self.health = tmp_path / "run" / "health"
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.burst_harness"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**clean_env(STUDYBOT_DATABASE=str(self.db), STUDYBOT_QUESTIONS=str(FIXTURE_BANK),
                             STUDYBOT_HEALTH_FILE=str(self.health), BURST_SECONDS="60", **SECRETS, **env),
                 "PYTHONPATH": str(ROOT)})
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for_acks(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for s in self.seen if s.startswith("ack ")) < count:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert line is not None, f"the harness ended early: {self.proc.wait()} {self.proc.stderr}"
            self.seen.append(line)

    def finish(self, timeout: float = 60) -> int:
        """Read the rest of stdout and return the exit code."""
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        code = self.proc.wait(timeout=timeout)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    @property
    def started(self) -> set[int]:
        return {int(s.split()[1]) for s in self.seen if s.startswith("start ")}

    @property
    def acked(self) -> set[tuple[int, int]]:
        return {(int(s.split()[1]), int(s.split()[2])) for s in self.seen if s.startswith("ack ")}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.kill()


def test_sigterm_during_a_burst_finishes_in_flight_answers_and_closes_cleanly(harness: Harness) -> None:
    harness.wait_for_acks(40)
    deadline = time.monotonic() + 20
    while not harness.health.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ops.check_health(harness.health)[0], "the running bot keeps its health file fresh"
    health = cli("health", env=clean_env(STUDYBOT_HEALTH_FILE=str(harness.health)))
    assert health.returncode == 0, health.stderr
    harness.proc.send_signal(signal.SIGTERM)
    code = harness.finish()
    assert code == 0, harness.stderr
    assert "drained" in harness.seen
    acked = harness.acked
    assert len(acked) >= 40
    # Every interaction that had started when SIGTERM came was finished and acknowledged...
    assert {n for n, _ in acked} == harness.started
    # ...and every acknowledged answer is in the database, which is sound.
    assert acked <= attempt_keys(harness.db)
    assert len(attempt_keys(harness.db)) == len(acked)
    sound(harness.db)
    # The database was closed (its WAL checkpointed away), the scheduler stopped (lease released) and the
    # health file removed, so a probe reports the stopped bot as down.
    assert not Path(f"{harness.db}-wal").exists()
    with closing(sqlite3.connect(harness.db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    assert not harness.health.exists()
    assert "received SIGTERM" in harness.stderr and "stopped: database closed" in harness.stderr
    # No token ever reaches the logs, though the fake platform logged all three (message, args, traceback).
    assert "<redacted>" in harness.stderr
    for token in SECRETS.values():
        assert token not in harness.stderr
        assert token not in "\n".join(harness.seen)


def test_kill_9_during_a_burst_loses_no_acknowledged_answer(harness: Harness) -> None:
    harness.wait_for_acks(60)
    harness.proc.send_signal(signal.SIGKILL)
    code = harness.finish()
    assert code == -signal.SIGKILL
    acked = harness.acked
    assert len(acked) >= 60
    assert "drained" not in harness.seen
    stored = attempt_keys(harness.db)  # opening it recovers the WAL, as the next start would
    missing = acked - stored
    assert not missing, f"acknowledged answers lost: {sorted(missing)[:10]}"
    # An answer may be committed and the process killed before it said so: never the other way round.
    assert len(stored) >= len(acked)
    sound(harness.db)


async def test_the_database_reopens_and_the_bot_goes_on_after_a_kill(tmp_path: Path, bank: Bank) -> None:
    h = Harness(tmp_path)
    try:
        h.wait_for_acks(20)
    finally:
        h.kill()
    db = await open_database(h.db)
    try:
        service = StudyService(db, bank, SystemClock())
        await answer_once(service, 100000)
    finally:
        await db.close()
    sound(h.db)


# ----------------------------------------------------------------- serve() in process
class FakePlatform:
    def __init__(self, name: str, events: list[str], *, fail_start: bool = False) -> None:
        self.name = name
        self.events = events
        self.fail_start = fail_start
        self.publisher = self

    supports_images = False

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        return None

    async def start(self) -> None:
        self.events.append(f"start {self.name}")
        if self.fail_start:
            raise RuntimeError("cannot connect")

    async def stop(self) -> None:
        await asyncio.sleep(0.05)  # an interaction finishing
        self.events.append(f"stop {self.name}")


def settings_for(tmp_path: Path, **overrides: str) -> Settings:
    env = {"STUDYBOT_DATABASE": str(tmp_path / "s.sqlite3"), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK),
           "STUDYBOT_HEALTH_FILE": str(tmp_path / "health"), **overrides}
    return Settings.load(env)


async def test_serve_stops_scheduler_then_platforms_then_closes_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr("adapters.serve.build_platform", lambda name, service, s: FakePlatform(name, events))
    stop = asyncio.Event()
    settings = settings_for(tmp_path)
    task = asyncio.create_task(serve(settings, ["one", "two"], stop))
    for _ in range(200):
        if (tmp_path / "health").exists():
            break
        await asyncio.sleep(0.02)
    assert ops.check_health(tmp_path / "health")[0]
    assert events == ["start one", "start two"]
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0
    assert events == ["start one", "start two", "stop two", "stop one"]
    assert not (tmp_path / "health").exists()
    assert not (tmp_path / "s.sqlite3-wal").exists(), "database closed"
    with closing(sqlite3.connect(tmp_path / "s.sqlite3")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


async def test_serve_cleans_up_when_a_platform_fails_to_start(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr("adapters.serve.build_platform",
                        lambda name, service, s: FakePlatform(name, events, fail_start=name == "two"))
    with pytest.raises(RuntimeError, match="cannot connect"):
        await asyncio.wait_for(serve(settings_for(tmp_path), ["one", "two", "three"]), 30)
    # The scheduler never started (and stopping it does not fail); started platforms are stopped.
    assert events == ["start one", "start two", "stop two", "stop one"]
    assert not (tmp_path / "s.sqlite3-wal").exists(), "database closed"
    assert not (tmp_path / "health").exists()


async def test_serve_gives_up_on_a_platform_that_never_finishes(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    class Stuck(FakePlatform):
        async def stop(self) -> None:
            await asyncio.sleep(3600)

    monkeypatch.setattr("adapters.serve.build_platform", lambda name, service, s: Stuck(name, []))
    stop = asyncio.Event()
    stop.set()
    started = time.monotonic()
    assert await serve(settings_for(tmp_path, STUDYBOT_SHUTDOWN_GRACE="0.2"), ["x"], stop) == 0
    assert time.monotonic() - started < 10
    assert not (tmp_path / "s.sqlite3-wal").exists()


class SlowScheduler:
    """Stands in for bot.schedule.Scheduler: run_due is a daily post being published."""

    def __init__(self) -> None:
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()
        self.events: list[str] = []

    async def acquire_lease(self) -> bool:
        return True

    async def release_lease(self) -> None:
        self.events.append("lease released")

    async def run_due(self) -> list[object]:
        if "published" in self.events:
            return []
        self.publishing.set()
        await self.release.wait()
        self.events.append("published")
        return []

    async def next_wakeup(self) -> None:
        return None


async def test_stopping_the_scheduler_lets_a_running_post_finish() -> None:
    from bot.timer import Wakeups

    scheduler = SlowScheduler()
    wakeups = Wakeups(scheduler)  # type: ignore[arg-type]
    await wakeups.stop(1)  # never started: stopping is a no-op, not SchedulerNotRunningError
    wakeups = Wakeups(scheduler)  # type: ignore[arg-type]
    starting = asyncio.create_task(wakeups.start())
    await asyncio.wait_for(scheduler.publishing.wait(), 10)
    stopping = asyncio.create_task(wakeups.stop(10))
    await asyncio.sleep(0.1)
    assert not stopping.done(), "stop waits for the post being published"
    scheduler.release.set()
    await asyncio.wait_for(asyncio.gather(starting, stopping), 10)
    assert scheduler.events == ["published", "lease released"]
    await wakeups.tick()  # a wake-up that fires after stop does nothing
    assert scheduler.events == ["published", "lease released"]


async def test_sigterm_while_a_platform_is_still_connecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    class Hanging(FakePlatform):
        async def start(self) -> None:
            events.append("connecting")
            await asyncio.sleep(3600)  # e.g. the network is down

    monkeypatch.setattr("adapters.serve.build_platform", lambda name, service, s: Hanging(name, events))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings_for(tmp_path), ["x"], stop))
    for _ in range(200):
        if events:
            break
        await asyncio.sleep(0.02)
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert events == ["connecting", "stop x"]
    assert not (tmp_path / "s.sqlite3-wal").exists()


# ----------------------------------------------------------------- health
def test_health_command(tmp_path: Path) -> None:
    health = tmp_path / "health"
    env = clean_env(STUDYBOT_HEALTH_FILE=str(health))
    missing = cli("health", env=env)
    assert missing.returncode == 1 and "no health file" in missing.stderr
    health.touch()
    fresh = cli("health", env=env)
    assert fresh.returncode == 0 and "healthy" in fresh.stdout
    old = time.time() - 300
    os.utime(health, (old, old))
    stale = cli("health", env=env)
    assert stale.returncode == 1 and "stuck" in stale.stderr
    assert cli("health", "--max-age", "600", env=env).returncode == 0
    unset = cli("health", env=clean_env())
    assert unset.returncode == 1 and "STUDYBOT_HEALTH_FILE" in unset.stderr


# ----------------------------------------------------------------- discord invite
def test_invite_url_from_the_app_id_setting(tmp_path: Path) -> None:
    proc = cli("discord", "invite-url", env=clean_env(STUDYBOT_DISCORD_APP_ID="123456789012345678",
                                                      DISCORD_TOKEN=SECRETS["DISCORD_TOKEN"]))
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert url == ("https://discord.com/oauth2/authorize?client_id=123456789012345678&permissions=2147535872"
                   "&scope=bot+applications.commands")
    assert SECRETS["DISCORD_TOKEN"] not in proc.stdout + proc.stderr
    assert "View Channel, Send Messages, Embed Links, Attach Files, Use Application Commands" in proc.stderr


def test_invite_url_derived_from_the_token() -> None:
    proc = cli("discord", "invite-url", env=clean_env(DISCORD_TOKEN=SECRETS["DISCORD_TOKEN"],
                                                      STUDYBOT_DISCORD_GUILD="42"))
    assert proc.returncode == 0, proc.stderr
    assert "client_id=198622483471925248&" in proc.stdout
    assert "guild_id=42" in proc.stdout
    assert "read from DISCORD_TOKEN" in proc.stderr
    assert SECRETS["DISCORD_TOKEN"] not in proc.stdout + proc.stderr


def test_invite_url_without_an_id_explains_what_to_set() -> None:
    proc = cli("discord", "invite-url", env=clean_env())
    assert proc.returncode == 1
    assert "STUDYBOT_DISCORD_APP_ID" in proc.stderr
    assert cli("discord", "invite-url", "--app-id", "abc", env=clean_env()).returncode == 1


def test_discord_permission_bits() -> None:
    assert ops.discord_permissions() == 1024 + 2048 + 16384 + 32768 + 2147483648
    assert ops.discord_app_id_from_token("not a token") is None
    assert ops.discord_app_id_from_token("") is None
    assert ops.discord_app_id_from_token("aGVsbG8.x.y") is None  # decodes, but not to an id
