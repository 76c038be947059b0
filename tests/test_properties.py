"""Property-based tests: arbitrary text, bytes and numbers fed to every entry point that reads outside input
(the console's commands, settings, `grade --batch`, the bank loader). No exception escapes other than the
documented one, and each call finishes within a time bound proportional to its input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.console.app import ConsoleApp
from bot.bank import load_bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import BankError, ConfigError
from bot.service import StudyService
from bot.storage import open_database
from bot.tools import grade_lines
from tests.conftest import FIXTURE_BANK

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


def within(started: float, size: int, *, base: float = 1.0, per_char: float = 2e-5) -> None:
    elapsed = time.perf_counter() - started
    assert elapsed < base + per_char * size, f"{elapsed:.2f}s for {size} characters"


numbers = st.one_of(st.integers().map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.text(alphabet="0123456789٠١٢٣²³½.eE+-", max_size=40), st.just("9" * 5000))
units = st.sampled_from(["", "d", "h", "m", "s", "w", "x", " d", "d1h"])
COMMANDS = ["/as", "/quiz", "/daily", "/leaderboard", "/stats", "/studybot", "/studybot setup", "/studybot digest",
            "/press", "/advance", "/help", "/nope", ""]
lines = st.one_of(
    st.text(max_size=300),
    st.builds(lambda c, t: f"{c} {t}", st.sampled_from(COMMANDS), st.text(max_size=200)),
    st.builds(lambda c, n, u: f"{c} {n}{u}", st.sampled_from(["/press", "/advance"]), numbers, units),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="surrogateescape")),
    st.text(max_size=20).map(lambda t: t * 400),  # long lines
)


@pytest.fixture(scope="module")
def console() -> Iterator[tuple[asyncio.AbstractEventLoop, ConsoleApp, io.StringIO]]:
    loop = asyncio.new_event_loop()
    folder = tempfile.TemporaryDirectory()
    clock = ManualClock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    db = loop.run_until_complete(open_database(Path(folder.name) / "p.sqlite3"))
    service = StudyService(db, load_bank(FIXTURE_BANK), clock, rng=random.Random(5))
    loop.run_until_complete(service.sync_bank())
    out = io.StringIO()
    app = ConsoleApp(service, clock, out=out)
    loop.run_until_complete(app.start())
    yield loop, app, out
    loop.run_until_complete(db.close())
    loop.close()
    folder.cleanup()


@PROPERTY
@given(line=lines)
def test_console_commands_never_raise(console: tuple[asyncio.AbstractEventLoop, ConsoleApp, io.StringIO],
                                      line: str) -> None:
    loop, app, out = console
    out.seek(0)
    out.truncate()
    started = time.perf_counter()
    loop.run_until_complete(app.handle(line.strip()))
    # /advance may simulate up to 90 days of posts: a bounded cost of its own.
    within(started, len(line), base=10.0 if line.startswith("/advance") else 1.0)
    assert "Something went wrong" not in out.getvalue()


ENV_NAMES = ["STUDYBOT_DATABASE", "STUDYBOT_QUESTIONS", "STUDYBOT_PLATFORM", "STUDYBOT_TIMEZONE",
             "STUDYBOT_CATCHUP_HOURS", "STUDYBOT_LOG_FORMAT", "STUDYBOT_LOG_LEVEL", "STUDYBOT_HEALTH_FILE",
             "STUDYBOT_SHUTDOWN_GRACE", "STUDYBOT_SLACK_PORT", "STUDYBOT_SLACK_ADMINS", "STUDYBOT_SLACK_MODE",
             "DISCORD_TOKEN", "STUDYBOT_DISCORD_APP_ID"]
env_text = st.one_of(st.text(max_size=80).map(lambda t: t.replace("\x00", "")), numbers)


@PROPERTY
@given(env=st.dictionaries(st.sampled_from(ENV_NAMES), env_text, max_size=6))
def test_settings_from_any_environment(env: dict[str, str]) -> None:
    started = time.perf_counter()
    error = ""
    try:
        loaded = Settings.load(env)
    except ConfigError as exc:
        error = str(exc)
    else:
        error = "\n".join(loaded.problems(loaded.platforms()))
        assert isinstance(loaded.redacted(), dict)
    within(started, sum(map(len, env.values())))
    # A value is never echoed: a long one without a folder part could be a pasted token (a short path, or
    # one with folders, is named so the operator sees which file is meant).
    for value in env.values():
        if len(value.strip()) > 24 and "/" not in value:
            assert value.strip() not in error


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children,
                                                                                max_size=4)),
    max_leaves=20)
yaml_texts = st.one_of(
    st.text(max_size=500),
    st.dictionaries(st.sampled_from(["timezone", "slack_port", "STUDYBOT_DATABASE", "catchup_hours", "platform",
                                     "slack_admins", "log_level", "topic", "questions", "title"]),
                    yaml_values, max_size=5).map(json.dumps),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


@PROPERTY
@given(text=yaml_texts)
def test_settings_from_any_config_file(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "studybot.yaml"
        file.write_text(text, encoding="utf-8", errors="surrogateescape")
        started = time.perf_counter()
        with contextlib.suppress(ConfigError):
            Settings.load({}, file)
        within(started, len(text))


batch_lines = st.one_of(
    st.text(max_size=300),
    st.builds(lambda q, a: json.dumps({"question_id": q, "answer": a}),
              st.one_of(st.sampled_from(["vanishing-gradients", "dropout-purpose", "nope"]), yaml_values),
              st.one_of(st.text(max_size=500), yaml_values, st.text(max_size=10).map(lambda t: t * 1000))),
)


@PROPERTY
@given(items=st.lists(batch_lines, max_size=8))
def test_grade_batch_answers_every_line(items: list[str]) -> None:
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in items)
    out = io.StringIO()
    started = time.perf_counter()
    assert grade_lines(FIXTURE_BANK, io.StringIO(text), out) == 0
    within(started, len(text), base=2.0, per_char=1e-4)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(results) == sum(1 for line in io.StringIO(text) if line.strip())
    assert all("error" in r or 0 <= r["score"] <= 1 for r in results)


@PROPERTY
@given(text=yaml_texts, entry=yaml_values)
def test_bank_loader_on_any_file(text: str, entry: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "a.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
        (Path(folder) / "b.yaml").write_text(
            json.dumps({"topic": "b", "title": "B", "questions": [entry]}), encoding="utf-8")
        started = time.perf_counter()
        with pytest.raises(BankError) as err:
            load_bank(Path(folder))
        within(started, len(text) + len(str(entry)))
        assert err.value.issues and all(str(issue) for issue in err.value.issues)
