"""One settings model: environment and YAML file, validation, and secrets that never show anywhere."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.app import _RedactSecrets, configure_logging
from bot.config import Settings
from bot.errors import ConfigError
from tests.conftest import FIXTURE_BANK, ROOT

DISCORD = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
SLACK_BOT = "xoxb-1234-5678-settingssecret"
SLACK_APP = "xapp-1-A0001-9999-appsecretvalue"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
TOKENS = {"DISCORD_TOKEN": DISCORD, "SLACK_BOT_TOKEN": SLACK_BOT, "SLACK_APP_TOKEN": SLACK_APP,
          "SLACK_SIGNING_SECRET": SIGNING}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDYBOT_", "DISCORD_", "SLACK_"))}
    return {**env, "PYTHONPATH": str(ROOT), "STUDYBOT_QUESTIONS": str(FIXTURE_BANK), **extra}


def config_check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.app", *args, "config", "check"], check=False,
                          capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)


def assert_no_token(text: str) -> None:
    for token in TOKENS.values():
        assert token not in text
        # not even a recognisable piece of one
        assert token[6:18] not in text


# ----------------------------------------------------------------- parsing
def test_defaults_without_any_setting() -> None:
    s = Settings.load({})
    assert s.database == Path("data/studybot.sqlite3")
    assert s.platform == "" and s.timezone == "UTC" and s.log_format == "text"
    assert s.health_file is None
    assert s.platforms() == ["console"]
    assert s.secrets() == []


def test_environment_values_are_typed() -> None:
    s = Settings.load({"STUDYBOT_DATABASE": "~/bot/db.sqlite3", "STUDYBOT_CATCHUP_HOURS": "2.5",
                       "STUDYBOT_SLACK_PORT": "8080", "STUDYBOT_SLACK_ADMINS": "U1, U2,,U3",
                       "STUDYBOT_HEALTH_FILE": "/tmp/h", "STUDYBOT_SHUTDOWN_GRACE": "7",
                       "STUDYBOT_DISCORD_APP_ID": "123", "STUDYBOT_TIMEZONE": "Europe/Berlin", "DISCORD_TOKEN": DISCORD,
                       "STUDYBOT_LOG_FORMAT": ""})  # empty means unset
    assert s.database == Path("~/bot/db.sqlite3").expanduser()
    assert s.catchup_hours == 2.5 and s.slack_port == 8080 and s.shutdown_grace == 7.0
    assert s.slack_admins == ("U1", "U2", "U3")
    assert s.health_file == Path("/tmp/h")
    assert s.discord_app_id == "123" and s.timezone == "Europe/Berlin"
    assert s.log_format == "text"
    assert s.platforms() == ["discord"]


def test_platforms_follow_tokens_unless_chosen() -> None:
    assert Settings.load({"DISCORD_TOKEN": DISCORD, "SLACK_BOT_TOKEN": SLACK_BOT}).platforms() == ["discord", "slack"]
    assert Settings.load({"SLACK_BOT_TOKEN": SLACK_BOT, "STUDYBOT_PLATFORM": "slack"}).platforms() == ["slack"]
    assert Settings.load({"STUDYBOT_PLATFORM": " discord , slack "}).platforms() == ["discord", "slack"]


def test_a_bad_number_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"STUDYBOT_SLACK_PORT|slack_port"):
        Settings.load({"STUDYBOT_SLACK_PORT": "eighty"})


def test_yaml_file_with_field_or_environment_names(tmp_path: Path) -> None:
    file = tmp_path / "studybot.yaml"
    file.write_text(f"timezone: Asia/Tokyo\nSTUDYBOT_CATCHUP_HOURS: 3\nslack_admins: [U1, U2]\n"
                    f"DISCORD_TOKEN: {DISCORD}\nslack_port: 4000\nhealth_file: null\n", encoding="utf-8")
    s = Settings.load({}, file)
    assert s.timezone == "Asia/Tokyo" and s.catchup_hours == 3.0 and s.slack_port == 4000
    assert s.slack_admins == ("U1", "U2")
    assert s.discord_token == DISCORD and s.health_file is None
    # STUDYBOT_CONFIG names the file; the environment wins over it.
    s = Settings.load({"STUDYBOT_CONFIG": str(file), "STUDYBOT_TIMEZONE": "UTC"})
    assert s.timezone == "UTC" and s.slack_port == 4000


@pytest.mark.parametrize(("text", "message"), [
    ("- just\n- a list\n", "must be a mapping"),
    ("colour: blue\n", "unknown settings colour"),
])
def test_yaml_file_mistakes(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Settings.load({}, file)


def test_missing_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        Settings.load({"STUDYBOT_CONFIG": str(tmp_path / "nope.yaml")})


def test_broken_yaml_error_never_quotes_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(f'timezone: UTC\ndiscord_token: "{DISCORD}\nslack_bot_token: [{SLACK_BOT}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.load({}, file)
    assert "not valid YAML" in str(info.value) and "line" in str(info.value)
    assert_no_token(str(info.value))


# ----------------------------------------------------------------- validation
def test_problems_name_what_is_missing(tmp_path: Path) -> None:
    base = {"STUDYBOT_QUESTIONS": str(FIXTURE_BANK)}
    assert Settings.load(base).problems(["console"]) == []
    assert Settings.load({**base, "DISCORD_TOKEN": DISCORD}).problems(["discord"]) == []
    found = Settings.load(base).problems(["discord", "slack", "teams"])
    assert any("unknown platform 'teams'" in p for p in found)
    assert any("DISCORD_TOKEN" in p for p in found)
    assert any("SLACK_BOT_TOKEN" in p for p in found)
    assert any("SLACK_APP_TOKEN" in p for p in found)
    http = Settings.load({**base, "SLACK_BOT_TOKEN": SLACK_BOT, "STUDYBOT_SLACK_MODE": "http"}).problems(["slack"])
    assert http == ["Slack HTTP mode needs SLACK_SIGNING_SECRET"]
    bad = Settings.load({"STUDYBOT_QUESTIONS": str(tmp_path / "nowhere"), "STUDYBOT_TIMEZONE": "Mars/Olympus",
                         "STUDYBOT_LOG_FORMAT": "xml", "STUDYBOT_LOG_LEVEL": "chatty",
                         "STUDYBOT_SLACK_MODE": "carrier-pigeon"}).problems(["console"])
    assert len(bad) == 5
    assert any("STUDYBOT_QUESTIONS" in p for p in bad)
    assert any("STUDYBOT_TIMEZONE" in p for p in bad)
    assert not any("Mars/Olympus" in p for p in bad)  # a setting's value is never echoed


# ----------------------------------------------------------------- redaction
def test_redacted_shows_secrets_only_as_set_or_not() -> None:
    s = Settings.load({**TOKENS, "STUDYBOT_SLACK_API_URL": "https://bot:hunter2pass@proxy.example/api/",
                       "STUDYBOT_DISCORD_API_BASE": f"http://127.0.0.1:9/{DISCORD}"})
    shown = s.redacted()
    for name in TOKENS:
        assert shown[name] == "<set, redacted>"
    assert Settings.load({}).redacted()["DISCORD_TOKEN"] == "<not set>"
    assert shown["STUDYBOT_SLACK_API_URL"] == "https://bot:<redacted>@proxy.example/api/"
    assert shown["STUDYBOT_DISCORD_API_BASE"] == "http://127.0.0.1:9/<redacted>"
    assert_no_token(json.dumps(shown))
    assert "hunter2pass" not in json.dumps(shown)


def test_config_check_prints_settings_without_a_secret() -> None:
    proc = config_check(env=clean_env(**TOKENS, STUDYBOT_SLACK_MODE="http"))
    assert proc.returncode == 0, proc.stderr
    assert "DISCORD_TOKEN=<set, redacted>" in proc.stdout
    assert "SLACK_SIGNING_SECRET=<set, redacted>" in proc.stdout
    assert "platforms: discord,slack" in proc.stdout
    assert_no_token(proc.stdout + proc.stderr)


def test_config_check_fails_clearly_when_the_chosen_platform_lacks_a_token() -> None:
    proc = config_check(env=clean_env(STUDYBOT_PLATFORM="discord", SLACK_BOT_TOKEN=SLACK_BOT))
    assert proc.returncode == 1
    assert "error: platform discord needs DISCORD_TOKEN" in proc.stderr
    assert "SLACK_BOT_TOKEN=<set, redacted>" in proc.stdout
    assert_no_token(proc.stdout + proc.stderr)
    proc = subprocess.run([sys.executable, "-m", "adapters.app", "config", "check", "--platform", "slack"],
                          check=False, capture_output=True, text=True, env=clean_env(DISCORD_TOKEN=DISCORD),
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "platform slack needs SLACK_BOT_TOKEN" in proc.stderr
    assert_no_token(proc.stdout + proc.stderr)


def test_config_check_with_a_yaml_file_of_tokens(tmp_path: Path) -> None:
    file = tmp_path / "studybot.yaml"
    file.write_text("".join(f"{k}: {v}\n" for k, v in TOKENS.items()), encoding="utf-8")
    file.chmod(0o644)
    proc = config_check("--config", str(file), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert f"config file: {file}" in proc.stdout
    assert "chmod 600" in proc.stderr  # readable by others: a warning, not an error
    assert_no_token(proc.stdout + proc.stderr)
    file.chmod(0o600)
    proc = config_check(env=clean_env(STUDYBOT_CONFIG=str(file)))
    assert proc.returncode == 0 and "chmod" not in proc.stderr
    assert_no_token(proc.stdout + proc.stderr)


def test_run_refuses_to_start_without_the_token() -> None:
    proc = subprocess.run([sys.executable, "-m", "adapters.app", "run", "--platform", "discord"],
                          check=False, capture_output=True, text=True, env=clean_env(), cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "platform discord needs DISCORD_TOKEN" in proc.stderr


# ----------------------------------------------------------------- logs
@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        yield root
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_never_carry_a_token(fmt: str, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.load({**TOKENS, "STUDYBOT_LOG_FORMAT": fmt, "STUDYBOT_LOG_LEVEL": "DEBUG"})
    configure_logging(settings)
    log = logging.getLogger("somewhere.deep")
    log.info("connecting with %s", DISCORD)
    log.warning(f"slack said no to {SLACK_BOT}")
    log.debug("signing with %(secret)s", {"secret": SIGNING})
    try:
        raise ValueError(f"bad app token {SLACK_APP}")
    except ValueError:
        log.exception("failed for %s", SLACK_BOT)
    log.error("where am I", stack_info=True, extra={"token": DISCORD})
    log.info("bad arguments %s %s", DISCORD)  # noqa: PLE1206 -- a logging mistake must not print the value raw
    err = capsys.readouterr().err
    assert err.count("<redacted>") >= 6
    assert "ValueError: bad app token <redacted>" in err.replace("\\n", "\n")
    assert_no_token(err)
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert len(lines) >= 5
        assert any("traceback" in line for line in lines)
        assert {line["logger"] for line in lines} == {"somewhere.deep"}


def test_short_values_are_not_treated_as_secrets() -> None:
    f = _RedactSecrets(["abc", DISCORD])
    assert f.secrets == [DISCORD]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "abc %s", (DISCORD,), None)
    assert f.filter(record)
    assert record.getMessage() == "abc <redacted>"


def test_json_log_lines_are_json(root_logger: logging.Logger) -> None:
    settings = Settings.load({"STUDYBOT_LOG_FORMAT": "json"})
    configure_logging(settings)
    handler = root_logger.handlers[0]
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("studybot").info("hello %s", "world")
    data = json.loads(stream.getvalue())
    assert data["message"] == "hello world" and data["level"] == "INFO" and data["logger"] == "studybot"
    assert data["time"].endswith("+00:00")
