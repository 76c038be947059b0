"""One settings model: environment variables, optionally a YAML file, built once in main."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError, shown_path
from bot.inputs import InputProblem, compose_yaml, construct_yaml, read_regular_text
from bot.zones import find_zone

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

    database: Path = field(default=Path("data/studybot.sqlite3"), metadata={
        "env": "STUDYBOT_DATABASE", "form": "a database file path such as data/studybot.sqlite3"})
    # STUDYBOT_DATABASE=postgresql://... lands here instead (see load): the shared store for replicas.
    database_url: str = field(default="", metadata={
        "env": "STUDYBOT_DATABASE", "alias_of": "database", "secret": False,
        "form": "postgresql://user:password@host:5432/database"})
    questions: Path = field(default_factory=_default_questions, metadata={
        "env": "STUDYBOT_QUESTIONS", "form": "the folder holding the *.yaml question files"})
    platform: str = field(default="", metadata={
        "env": "STUDYBOT_PLATFORM", "form": "console, discord, slack, or discord,slack"})
    timezone: str = field(default="UTC", metadata={
        "env": "STUDYBOT_TIMEZONE", "form": "an IANA time zone such as Europe/Berlin"})
    catchup_hours: float = field(default=6.0, metadata={
        "env": "STUDYBOT_CATCHUP_HOURS", "form": "a number of hours", "range": (0.0, 168.0)})
    log_format: str = field(default="text", metadata={"env": "STUDYBOT_LOG_FORMAT", "form": "text or json"})
    log_level: str = field(default="INFO", metadata={"env": "STUDYBOT_LOG_LEVEL", "form": ", ".join(LOG_LEVELS)})
    health_file: Path | None = field(default=None, metadata={
        "env": "STUDYBOT_HEALTH_FILE", "form": "a file path of its own such as /tmp/studybot.health"})
    shutdown_grace: float = field(default=20.0, metadata={
        "env": "STUDYBOT_SHUTDOWN_GRACE", "form": "a number of seconds", "range": (0.1, 3600.0)})
    discord_token: str = field(default="", metadata={"env": "DISCORD_TOKEN", "secret": True, "form": "the bot token"})
    discord_app_id: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_APP_ID", "form": "a number such as 123456789012345678"})
    discord_api_base: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_API_BASE", "form": "an http(s) URL such as http://127.0.0.1:8080"})
    discord_gateway_url: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_GATEWAY_URL", "form": "a ws(s) URL such as ws://127.0.0.1:8080/gateway"})
    discord_guild: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_GUILD", "form": "a server id (a number such as 123456789012345678)"})
    discord_shards: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_SHARDS", "form": "shard ids such as 0-3 or 0,2 (this process's shards)"})
    discord_shard_count: str = field(default="", metadata={
        "env": "STUDYBOT_DISCORD_SHARD_COUNT", "form": "a number of shards (1 or more, such as 8) or auto"})
    discord_posts_per_second: float = field(default=45.0, metadata={
        "env": "STUDYBOT_DISCORD_POSTS_PER_SECOND", "form": "a number of scheduled posts a second",
        "range": (0.1, 10_000.0)})
    slack_bot_token: str = field(default="", metadata={
        "env": "SLACK_BOT_TOKEN", "secret": True, "form": "the xoxb- token"})
    slack_app_token: str = field(default="", metadata={
        "env": "SLACK_APP_TOKEN", "secret": True, "form": "the xapp- token"})
    slack_signing_secret: str = field(default="", metadata={
        "env": "SLACK_SIGNING_SECRET", "secret": True, "form": "the signing secret"})
    slack_client_id: str = field(default="", metadata={
        "env": "SLACK_CLIENT_ID", "form": "the app's client id such as 1234567890.1234567890"})
    slack_client_secret: str = field(default="", metadata={
        "env": "SLACK_CLIENT_SECRET", "secret": True, "form": "the app's client secret"})
    slack_redirect_uri: str = field(default="", metadata={
        "env": "SLACK_REDIRECT_URI", "form": "an https URL ending in /slack/oauth_redirect"})
    slack_mode: str = field(default="", metadata={"env": "STUDYBOT_SLACK_MODE", "form": "socket or http"})
    slack_port: int = field(default=3000, metadata={
        "env": "STUDYBOT_SLACK_PORT", "form": "a port number", "range": (1, 65535)})
    slack_posts_per_second: float = field(default=10.0, metadata={
        "env": "STUDYBOT_SLACK_POSTS_PER_SECOND", "form": "a number of scheduled posts a second per workspace",
        "range": (0.1, 10_000.0)})
    slack_api_url: str = field(default="", metadata={
        "env": "STUDYBOT_SLACK_API_URL", "form": "an http(s) URL ending in /api/"})
    slack_admins: tuple[str, ...] = field(default=(), metadata={
        "env": "STUDYBOT_SLACK_ADMINS", "form": "comma-separated Slack user ids such as U012AB3CD"})
    grader: str = field(default="offline", metadata={"env": "STUDYBOT_GRADER", "form": "offline or llm"})
    llm_base_url: str = field(default="", metadata={
        "env": "STUDYBOT_LLM_BASE_URL", "form": "an http(s) URL such as http://localhost:11434/v1"})
    llm_model: str = field(default="", metadata={"env": "STUDYBOT_LLM_MODEL", "form": "a model name"})
    llm_api_key: str = field(default="", metadata={"env": "STUDYBOT_LLM_API_KEY", "secret": True,
                                                   "form": "the API key"})
    llm_timeout: float = field(default=8.0, metadata={
        "env": "STUDYBOT_LLM_TIMEOUT", "form": "a number of seconds", "range": (0.5, 60.0)})
    llm_max_in_flight: int = field(default=4, metadata={
        "env": "STUDYBOT_LLM_MAX_IN_FLIGHT", "form": "a number of calls", "range": (1, 64)})
    llm_daily_cap: int = field(default=0, metadata={
        "env": "STUDYBOT_LLM_DAILY_CAP", "form": "a number of calls a day (0: no cap)", "range": (0, 10_000_000)})

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
            by_env = {f.metadata["env"]: f.name for f in fields(cls) if "alias_of" not in f.metadata}
            known = {f.name for f in fields(cls)}
            unknown = sorted(str(k)[:40] for k in loaded if k not in known and k not in by_env)
            if unknown:
                raise ConfigError(f"config file {file}: unknown settings {', '.join(unknown)} "
                                  "(use the names in the README, e.g. timezone or STUDYBOT_TIMEZONE)")
            for key, value in loaded.items():
                if value is not None:
                    raw[by_env.get(key, key)] = value
        for f in fields(cls):
            name = f.metadata["env"]
            if env.get(name, "") != "" and "alias_of" not in f.metadata:
                raw[f.name] = env[name]
        if isinstance(raw.get("database"), str) and _is_postgresql_url(raw["database"]):
            raw["database_url"] = raw.pop("database")
        values = {f.name: _convert(f, raw[f.name]) for f in fields(cls) if f.name in raw}
        return cls(**values)

    @property
    def store(self) -> str | Path:
        """Where the data lives: a postgresql:// URL, else the SQLite file."""
        return self.database_url or self.database

    def platforms(self) -> list[str]:
        """Chosen platforms: STUDYBOT_PLATFORM, else those with a token, else the console."""
        if self.platform:
            chosen = [p.strip() for p in self.platform.split(",") if p.strip()]
        else:
            chosen = [p for p, token in (("discord", self.discord_token),
                                         ("slack", self.slack_bot_token or self.slack_oauth)) if token]
        return chosen or ["console"]

    def problems(self, platforms: list[str], known: tuple[str, ...] = ("console", "discord", "slack")) -> list[str]:
        """Everything in the settings that stops `studybot run` from working with these platforms, as clear
        sentences (`known`: the platforms this build has; see adapters.registry)."""
        found = []
        for p in platforms:
            if p not in known:
                # A short lowercase word is a typo worth showing; anything else might be a pasted secret.
                shown = f"'{p}'" if re.fullmatch(r"[a-z]{1,20}", p) else "name"
                found.append(f"unknown platform {shown} (use {', '.join(known)})")
        if "discord" in platforms and not self.discord_token:
            found.append("platform discord needs DISCORD_TOKEN (the bot token from the Discord developer portal)")
        if "slack" in platforms:
            found += self._slack_problems()
        found += [f"{name} must be {form}" for name, form in self.invalid().items()]
        found += self.shard_problems()
        if self.grader == "llm" and not (self.llm_base_url and self.llm_model):
            found.append("STUDYBOT_GRADER=llm needs STUDYBOT_LLM_BASE_URL and STUDYBOT_LLM_MODEL (an OpenAI-compatible "
                         "chat completions API)")
        if not os.path.isdir(self.questions):  # False, not an error, for a name too long or with a NUL
            found.append(f"question bank folder {shown_path(self.questions)} not found: set STUDYBOT_QUESTIONS to "
                         "the folder holding the *.yaml question files (questions/ in the repository)")
        return found

    @property
    def slack_oauth(self) -> bool:
        """Slack for many workspaces: the OAuth install flow (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)."""
        return bool(self.slack_client_id or self.slack_client_secret)

    def _slack_problems(self) -> list[str]:
        found = []
        if self.slack_oauth:
            if not (self.slack_client_id and self.slack_client_secret):
                found.append("Slack's OAuth install flow needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
            if not self.slack_signing_secret:
                found.append("Slack's OAuth install flow needs SLACK_SIGNING_SECRET (it runs in HTTP mode)")
            if self.slack_mode == "socket":
                found.append("Slack's OAuth install flow runs in HTTP mode: set STUDYBOT_SLACK_MODE=http or leave it "
                             "unset")
            return found
        if not self.slack_bot_token:
            found.append("platform slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                         "SLACK_CLIENT_SECRET (the OAuth install flow for many workspaces)")
        if self.slack_mode == "http" and not self.slack_signing_secret:
            found.append("Slack HTTP mode needs SLACK_SIGNING_SECRET")
        if self.slack_mode != "http" and not self.slack_app_token:
            found.append("Slack Socket Mode needs SLACK_APP_TOKEN (or set STUDYBOT_SLACK_MODE=http)")
        return found

    def invalid(self) -> dict[str, str]:
        """Settings whose text is not one of the values they accept: name -> the form they need."""
        bad = {"STUDYBOT_SLACK_MODE": self.slack_mode not in SLACK_MODES,
               "STUDYBOT_LOG_FORMAT": self.log_format not in ("text", "json"),
               "STUDYBOT_LOG_LEVEL": self.log_level.upper() not in LOG_LEVELS,
               "STUDYBOT_TIMEZONE": find_zone(self.timezone) is None,
               "STUDYBOT_PLATFORM": not all(re.fullmatch(r"[a-z]{1,20}", p.strip()) for p in self.platform.split(",")
                                            if p.strip()),
               "STUDYBOT_DISCORD_API_BASE": not _url(self.discord_api_base, ("http", "https")),
               "STUDYBOT_DISCORD_GATEWAY_URL": not _url(self.discord_gateway_url, ("ws", "wss")),
               "STUDYBOT_SLACK_API_URL": not _url(self.slack_api_url, ("http", "https")),
               "SLACK_REDIRECT_URI": not _url(self.slack_redirect_uri, ("http", "https")),
               "SLACK_CLIENT_ID": not re.fullmatch(r"[0-9A-Za-z.]{0,64}", self.slack_client_id.strip()),
               "STUDYBOT_GRADER": self.grader not in ("offline", "llm"),
               "STUDYBOT_LLM_BASE_URL": not _url(self.llm_base_url, ("http", "https")),
               "STUDYBOT_DATABASE": bool(self.database_url) and not _url(self.database_url, ("postgresql", "postgres")),
               "STUDYBOT_DISCORD_GUILD": not re.fullmatch(r"[0-9]{0,21}", self.discord_guild.strip()),
               "STUDYBOT_DISCORD_SHARDS": bool(self.discord_shards.strip())
                                          and parse_shard_ids(self.discord_shards) is None,
               "STUDYBOT_DISCORD_SHARD_COUNT": bool(self.discord_shard_count.strip())
                                               and parse_shard_count(self.discord_shard_count) is None,
               "STUDYBOT_DISCORD_APP_ID": not re.fullmatch(r"[0-9]{0,21}", self.discord_app_id.strip())}
        forms = {f.metadata["env"]: f.metadata["form"] for f in fields(self)}
        return {name: forms[name] for name, wrong in bad.items() if wrong}

    def discord_sharding(self) -> tuple[tuple[int, ...] | None, int | str | None]:
        """(the shard ids this process connects, None: all of them; the shard count, "auto" for Discord's
        recommendation, None: not sharded, discord.py's default single connection). Call after `problems`."""
        ids = parse_shard_ids(self.discord_shards) if self.discord_shards.strip() else None
        count = parse_shard_count(self.discord_shard_count) if self.discord_shard_count.strip() else None
        return ids, count

    def shard_problems(self) -> list[str]:
        """The shard settings that do not fit together (each alone is checked by `invalid`)."""
        ids, count = self.discord_sharding()
        if ids is None:
            return []
        if count is None:
            if self.discord_shard_count.strip():
                return []  # not a count: `invalid` says so
            return ["STUDYBOT_DISCORD_SHARDS needs STUDYBOT_DISCORD_SHARD_COUNT (the total number of shards, or auto)"]
        if isinstance(count, int) and ids[-1] >= count:
            return [f"STUDYBOT_DISCORD_SHARDS names shard {ids[-1]}, but with STUDYBOT_DISCORD_SHARD_COUNT={count} "
                    f"the shards are 0 to {count - 1}"]
        return []

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets shown only as set or not set, invalid values not at all (a token
        pasted into the wrong setting must not be printed)."""
        out = {}
        invalid = self.invalid()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == ("database" if self.database_url else "database_url"):
                continue  # one STUDYBOT_DATABASE: the file, or the URL that replaced it
            if f.metadata["env"] in invalid:
                text = "<invalid, not shown>"
            elif f.metadata.get("secret"):
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


MAX_SHARDS = 100_000
_SHARD_RANGE = re.compile(r"\s*([0-9]{1,6})\s*(?:-\s*([0-9]{1,6})\s*)?")


def parse_shard_ids(text: str) -> tuple[int, ...] | None:
    """`0-3`, `0,2` or `0-1,4` as sorted distinct shard ids; None when the text is not in that form."""
    ids: set[int] = set()
    for part in text.split(","):
        m = _SHARD_RANGE.fullmatch(part)
        if m is None:
            return None
        low = int(m[1])
        high = int(m[2]) if m[2] else low
        if high < low or high >= MAX_SHARDS:
            return None
        ids.update(range(low, high + 1))
    return tuple(sorted(ids))


def parse_shard_count(text: str) -> int | str | None:
    """A number of shards from 1, or "auto"; None when the text is neither."""
    text = text.strip().lower()
    if text == "auto":
        return text
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_SHARDS:
        return None
    return int(text)


def _is_postgresql_url(text: str) -> bool:
    return text.strip().split("://", 1)[0].lower() in ("postgresql", "postgres") and "://" in text


def _url(text: str, schemes: tuple[str, ...]) -> bool:
    """Empty (the platform's default) or a URL with one of `schemes` and a host."""
    if not text.strip():
        return True
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.netloc)


def config_file(env: Mapping[str, str]) -> Path | None:
    return Path(env["STUDYBOT_CONFIG"]).expanduser() if env.get("STUDYBOT_CONFIG") else None


MAX_CONFIG_BYTES = 256 * 1024


def _read_yaml(file: Path) -> dict[Any, Any]:
    # Never echo the file's text: YAML errors quote the offending line, which may hold a token.
    try:
        loaded = construct_yaml(compose_yaml(read_regular_text(file, MAX_CONFIG_BYTES))) or {}
    except InputProblem as exc:
        where = f" at line {exc.line}" if exc.line else ""
        if str(exc).startswith("invalid YAML"):
            raise ConfigError(f"config file {file} is not valid YAML{where}: {str(exc).removeprefix('invalid YAML: ')}"
                              ) from None
        raise ConfigError(f"cannot read config file {file}{where}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {file} must be a mapping of setting: value")
    return loaded


def _convert(f: Field[Any], value: Any) -> Any:
    """The setting's typed value. Errors name the setting and the form it needs, never the value: a token
    pasted into the wrong variable must not reach a log."""
    name, form, kind = f.metadata["env"], f.metadata["form"], str(f.type)

    def wrong(why: str = "") -> ConfigError:
        return ConfigError(f"setting {name} must be {form}{why}")

    if "tuple" in kind and isinstance(value, list):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise wrong(" (a list of plain values)")
        items = [str(v) for v in value]
    elif isinstance(value, bool):
        raise wrong(" (YAML read yes/no/true/false as a boolean: put the value in quotes)")
    elif not isinstance(value, str | int | float):
        raise wrong(f" (the config file gives a YAML {type(value).__name__})")
    else:
        items = [str(value)]
    text = items[0] if items else ""
    if any("\0" in item for item in items):
        raise wrong(" (it contains a NUL character)")
    if "tuple" in kind:
        parts = items if isinstance(value, list) else text.split(",")
        return tuple(p.strip() for p in parts if p.strip())
    if "Path" in kind:
        return Path(text).expanduser()
    if kind in ("int", "float"):
        return _number(text, int if kind == "int" else float, f.metadata["range"], wrong)
    return text


def _number(text: str, kind: type[int] | type[float], bounds: tuple[float, float],
            wrong: Callable[[str], ConfigError]) -> int | float:
    low, high = bounds
    text = text.strip()
    # ASCII digits only (int() also takes other scripts' digits), and short: int() of a huge string is slow.
    if len(text) > 32 or not text.isascii():
        raise wrong(f" from {low:g} to {high:g}")
    try:
        number = kind(text)
    except ValueError:
        raise wrong(f" from {low:g} to {high:g}" + (" (a whole number)" if kind is int else "")) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise wrong(f" from {low:g} to {high:g}")
    return number
