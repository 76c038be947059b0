"""One settings model: environment variables, optionally a YAML file, built once in main."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.errors import ConfigError

REPO_QUESTIONS = Path(__file__).resolve().parent.parent / "questions"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SLACK_MODES = ("", "socket", "http")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^/@\s]+@")


def _default_questions() -> Path:
    """./questions, else the repository's bank. A `pip install .` ships no bank: set STUDYBOT_QUESTIONS."""
    local = Path("questions")
    return local if local.is_dir() else REPO_QUESTIONS


@dataclass(frozen=True)
class Settings:
    """Each field names its environment variable; `secret` ones are never printed or logged."""

    database: Path = field(default=Path("data/studybot.sqlite3"), metadata={"env": "STUDYBOT_DATABASE"})
    questions: Path = field(default_factory=_default_questions, metadata={"env": "STUDYBOT_QUESTIONS"})
    platform: str = field(default="", metadata={"env": "STUDYBOT_PLATFORM"})
    timezone: str = field(default="UTC", metadata={"env": "STUDYBOT_TIMEZONE"})
    catchup_hours: float = field(default=6.0, metadata={"env": "STUDYBOT_CATCHUP_HOURS"})
    log_format: str = field(default="text", metadata={"env": "STUDYBOT_LOG_FORMAT"})
    log_level: str = field(default="INFO", metadata={"env": "STUDYBOT_LOG_LEVEL"})
    health_file: Path | None = field(default=None, metadata={"env": "STUDYBOT_HEALTH_FILE"})
    shutdown_grace: float = field(default=20.0, metadata={"env": "STUDYBOT_SHUTDOWN_GRACE"})
    discord_token: str = field(default="", metadata={"env": "DISCORD_TOKEN", "secret": True})
    discord_app_id: str = field(default="", metadata={"env": "STUDYBOT_DISCORD_APP_ID"})
    discord_api_base: str = field(default="", metadata={"env": "STUDYBOT_DISCORD_API_BASE"})
    discord_gateway_url: str = field(default="", metadata={"env": "STUDYBOT_DISCORD_GATEWAY_URL"})
    discord_guild: str = field(default="", metadata={"env": "STUDYBOT_DISCORD_GUILD"})
    slack_bot_token: str = field(default="", metadata={"env": "SLACK_BOT_TOKEN", "secret": True})
    slack_app_token: str = field(default="", metadata={"env": "SLACK_APP_TOKEN", "secret": True})
    slack_signing_secret: str = field(default="", metadata={"env": "SLACK_SIGNING_SECRET", "secret": True})
    slack_mode: str = field(default="", metadata={"env": "STUDYBOT_SLACK_MODE"})
    slack_port: int = field(default=3000, metadata={"env": "STUDYBOT_SLACK_PORT"})
    slack_api_url: str = field(default="", metadata={"env": "STUDYBOT_SLACK_API_URL"})
    slack_admins: tuple[str, ...] = field(default=(), metadata={"env": "STUDYBOT_SLACK_ADMINS"})

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, file: Path | None = None) -> Settings:
        """Environment wins over the YAML file (STUDYBOT_CONFIG), which wins over defaults.

        The file's keys are the field names (`discord_token`) or the environment names (`DISCORD_TOKEN`).
        """
        env = os.environ if env is None else env
        file = file or config_file(env)
        raw: dict[str, Any] = {}
        if file is not None:
            loaded = _read_yaml(file)
            by_env = {f.metadata["env"]: f.name for f in fields(cls)}
            known = {f.name for f in fields(cls)}
            unknown = sorted(str(k) for k in loaded if k not in known and k not in by_env)
            if unknown:
                raise ConfigError(f"config file {file}: unknown settings {', '.join(unknown)}")
            for key, value in loaded.items():
                if value is not None:
                    raw[by_env.get(key, key)] = value
        for f in fields(cls):
            name = f.metadata["env"]
            if env.get(name, "") != "":
                raw[f.name] = env[name]
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in raw:
                values[f.name] = _convert(f.name, f.type, raw[f.name])
        return cls(**values)

    def platforms(self) -> list[str]:
        """Chosen platforms: STUDYBOT_PLATFORM, else those with a token, else the console."""
        if self.platform:
            chosen = [p.strip() for p in self.platform.split(",") if p.strip()]
        else:
            chosen = [p for p, token in (("discord", self.discord_token), ("slack", self.slack_bot_token)) if token]
        return chosen or ["console"]

    def problems(self, platforms: list[str]) -> list[str]:
        """Everything that stops `studybot run` from working with these platforms, as clear sentences."""
        found = []
        for p in platforms:
            if p not in ("console", "discord", "slack"):
                found.append(f"unknown platform '{p}' (use console, discord or slack)")
        if "discord" in platforms and not self.discord_token:
            found.append("platform discord needs DISCORD_TOKEN (the bot token from the Discord developer portal)")
        if "slack" in platforms:
            if not self.slack_bot_token:
                found.append("platform slack needs SLACK_BOT_TOKEN")
            if self.slack_mode == "http" and not self.slack_signing_secret:
                found.append("Slack HTTP mode needs SLACK_SIGNING_SECRET")
            if self.slack_mode != "http" and not self.slack_app_token:
                found.append("Slack Socket Mode needs SLACK_APP_TOKEN (or set STUDYBOT_SLACK_MODE=http)")
        if self.slack_mode not in SLACK_MODES:
            found.append("STUDYBOT_SLACK_MODE must be socket or http")
        if self.log_format not in ("text", "json"):
            found.append("STUDYBOT_LOG_FORMAT must be text or json")
        if self.log_level.upper() not in LOG_LEVELS:
            found.append(f"STUDYBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            found.append(f"STUDYBOT_TIMEZONE '{self.timezone}' is not an IANA timezone (e.g. Europe/Berlin)")
        if not self.questions.is_dir():
            found.append(f"question bank folder {self.questions} not found: set STUDYBOT_QUESTIONS to the folder "
                         "holding the *.yaml question files (questions/ in the repository)")
        if self.shutdown_grace <= 0:
            found.append("STUDYBOT_SHUTDOWN_GRACE must be a positive number of seconds")
        return found

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets shown only as set or not set."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret"):
                text = "<set, redacted>" if value else "<not set>"
            elif isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = "" if value is None else str(value)
            out[f.metadata["env"]] = self.redact(text)
        return out

    def redact(self, text: str) -> str:
        """`text` with every secret value, and any password inside a URL, replaced."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return _URL_PASSWORD.sub(r"\1<redacted>@", text)

    def secrets(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self) if f.metadata.get("secret") and getattr(self, f.name)]


def config_file(env: Mapping[str, str]) -> Path | None:
    return Path(env["STUDYBOT_CONFIG"]).expanduser() if env.get("STUDYBOT_CONFIG") else None


def _read_yaml(file: Path) -> dict[Any, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from exc
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        # Never echo the file's text: YAML errors quote the offending line, which may hold a token.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {file} is not valid YAML{where}: {problem}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {file} must be a mapping of setting: value")
    return loaded


def _convert(name: str, kind: Any, value: Any) -> Any:
    kind = str(kind)
    try:
        if "Path" in kind:
            return Path(str(value)).expanduser()
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
        if "tuple" in kind:
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(str(v).strip() for v in items if str(v).strip())
    except ValueError as exc:
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind}") from exc
    return str(value)
