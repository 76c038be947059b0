"""One settings model: environment variables, optionally a YAML file, built once in main."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

REPO_QUESTIONS = Path(__file__).resolve().parent.parent / "questions"


def _default_questions() -> Path:
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
    discord_token: str = field(default="", metadata={"env": "DISCORD_TOKEN", "secret": True})
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
        """Environment wins over the YAML file (STUDYBOT_CONFIG), which wins over defaults."""
        env = os.environ if env is None else env
        file = file or (Path(env["STUDYBOT_CONFIG"]) if env.get("STUDYBOT_CONFIG") else None)
        raw: dict[str, Any] = {}
        if file is not None:
            try:
                loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read config file {file}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise ConfigError(f"config file {file} must be a mapping of setting: value")
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(loaded) - known)
            if unknown:
                raise ConfigError(f"config file {file}: unknown settings {', '.join(unknown)}")
            raw.update(loaded)
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
        found = []
        for p in platforms:
            if p not in ("console", "discord", "slack"):
                found.append(f"unknown platform '{p}' (use console, discord or slack)")
        if "discord" in platforms and not self.discord_token:
            found.append("platform discord needs DISCORD_TOKEN")
        if "slack" in platforms:
            if not self.slack_bot_token:
                found.append("platform slack needs SLACK_BOT_TOKEN")
            if self.slack_mode == "http" and not self.slack_signing_secret:
                found.append("Slack HTTP mode needs SLACK_SIGNING_SECRET")
            if self.slack_mode != "http" and not self.slack_app_token:
                found.append("Slack Socket Mode needs SLACK_APP_TOKEN (or set STUDYBOT_SLACK_MODE=http)")
        if self.log_format not in ("text", "json"):
            found.append("STUDYBOT_LOG_FORMAT must be text or json")
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
            out[f.metadata["env"]] = text
        return out

    def secrets(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self) if f.metadata.get("secret") and getattr(self, f.name)]


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
