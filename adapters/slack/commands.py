"""Slash-command text to service arguments. Slack gives a command one free-text string and no options
or autocomplete, so these parsers accept words in any order and say what they expected when stuck.

With `should_escape: true` in the manifest Slack sends channels as `<#C123|name>` and members as
`<@U123|name>`; both are understood here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.bank.model import DIFFICULTIES
from bot.dispatch import (
    AddQuestion,
    Appeals,
    Command,
    Daily,
    Digest,
    Help,
    Pause,
    Review,
    SetPool,
    Setup,
    Stats,
    Status,
)
from bot.domain import PERIODS, POOLS, WEEKDAYS
from bot.errors import InvalidInput, UserError

_CHANNEL = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$")
_RAW_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,}$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_TIME = re.compile(r"^\d{1,2}:\d{2}$")
_DAY_WORDS = {"weekdays", "daily", "all", "every-day", "everyday", "mon-fri", "mon-sun"}
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SETUP_KEYS = {"time": "time", "at": "time", "tz": "timezone", "timezone": "timezone", "days": "days",
               "topics": "topics", "topic": "topics", "difficulty": "difficulties", "difficulties": "difficulties",
               "levels": "difficulties", "reveal": "reveal_minutes", "channel": "channel"}

SETUP_USAGE = ("Usage: /studybot setup [#channel] [HH:MM] [timezone] [weekdays|daily|mon,wed,fri] "
               "[topics, comma separated] [easy,medium,hard] [reveal=MINUTES]")


def words(text: str) -> list[str]:
    return text.split()


def split_subcommand(text: str) -> tuple[str, str]:
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "help", ""
    return parts[0].lower(), parts[1] if len(parts) > 1 else ""


def channel_ref(token: str) -> str | None:
    """A channel id from `<#C123|name>` (or a bare id), else None."""
    match = _CHANNEL.match(token)
    if match:
        return match.group(1)
    return token if _RAW_CHANNEL.match(token) else None


def user_ref(token: str) -> tuple[str, str | None] | None:
    match = _USER.match(token.strip())
    if not match:
        return None
    return match.group(1), match.group(2) or None


@dataclass(frozen=True, slots=True)
class QuizArgs:
    topic: str | None
    difficulty: str | None


def parse_quiz(text: str) -> QuizArgs:
    """`[topic words] [difficulty]` (the difficulty may also come first)."""
    tokens = words(text)
    difficulty = None
    if tokens and tokens[-1].lower() in DIFFICULTIES:
        difficulty = tokens.pop().lower()
    elif tokens and tokens[0].lower() in DIFFICULTIES:
        difficulty = tokens.pop(0).lower()
    return QuizArgs(" ".join(tokens) or None, difficulty)


def parse_leaderboard(text: str) -> tuple[str, str | None]:
    """`[period] [topic]`, or `[topic] [period]`; the period defaults to this week."""
    tokens = words(text)
    period = "week"
    if tokens and tokens[0].lower() in PERIODS:
        period = tokens.pop(0).lower()
    elif tokens and tokens[-1].lower() in PERIODS:
        period = tokens.pop().lower()
    return period, " ".join(tokens) or None


def _is_days(token: str) -> bool:
    low = token.lower()
    if low in _DAY_WORDS:
        return True
    parts = [p for p in low.split(",") if p]
    return bool(parts) and all(p[:3] in WEEKDAYS and any(n.startswith(p) for n in _WEEKDAY_NAMES) for p in parts)


def _is_levels(token: str) -> bool:
    parts = [p for p in token.lower().split(",") if p]
    return bool(parts) and all(p in DIFFICULTIES for p in parts)


@dataclass
class SetupArgs:
    values: dict[str, Any] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        out = dict(self.values)
        if self.topics and "topics" not in out:
            out["topics"] = " ".join(self.topics)
        return out


def parse_setup(text: str) -> dict[str, Any]:
    """Keyword arguments for StudyService.setup from words in any order (or key=value)."""
    args = SetupArgs()
    for token in words(text):
        key, sep, value = token.partition("=")
        if sep and key.lower() in _SETUP_KEYS:
            name = _SETUP_KEYS[key.lower()]
            if name == "reveal_minutes":
                if not value.isdigit():
                    raise InvalidInput("reveal= takes a number of minutes, e.g. reveal=60.")
                args.values[name] = int(value) or None
            elif name == "channel":
                channel = channel_ref(value)
                if channel is None:
                    raise InvalidInput("channel= takes a channel, e.g. channel=#ml-study.")
                args.values[name] = channel
            else:
                args.values[name] = value
            continue
        channel = channel_ref(token)
        if channel is not None:
            args.values["channel"] = channel
        elif _TIME.match(token):
            args.values["time"] = token
        elif "/" in token or token.upper() in ("UTC", "GMT"):
            args.values["timezone"] = token
        elif _is_days(token):
            args.values["days"] = token
        elif _is_levels(token):
            args.values["difficulties"] = token
        else:
            args.topics.append(token)
    return args.kwargs()


def parse_digest(text: str) -> dict[str, Any]:
    """`[#channel] [day] [HH:MM]` for StudyService.set_digest."""
    out: dict[str, Any] = {}
    for token in words(text):
        channel = channel_ref(token)
        if channel is not None:
            out["channel"] = channel
        elif _TIME.match(token):
            out["time"] = token
        elif token.lower()[:3] in WEEKDAYS:
            out["day"] = token
        else:
            raise InvalidInput(f"I don't understand “{token}”. Usage: /studybot digest [#channel] [day] [HH:MM]")
    return out


def parse_channel_only(text: str, usage: str) -> str | None:
    tokens = words(text)
    if not tokens:
        return None
    channel = channel_ref(tokens[0]) if len(tokens) == 1 else None
    if channel is None:
        raise InvalidInput(usage)
    return channel


ADMIN_SUBCOMMANDS = frozenset({"setup", "digest", "pause", "resume", "status", "appeals", "review", "pool"})
POOL_USAGE = "Usage: /studybot pool shipped|own|both [#channel]"


def parse_pool(text: str) -> SetPool:
    """`shipped|own|both [#channel]`, in either order."""
    pool, channel = None, None
    for token in words(text):
        found = channel_ref(token)
        if found is not None and channel is None:
            channel = found
        elif token.lower() in POOLS and pool is None:
            pool = token.lower()
        else:
            raise InvalidInput(POOL_USAGE)
    if pool is None:
        raise InvalidInput(POOL_USAGE)
    return SetPool(pool, channel)


async def studybot_command(text: str, profile: Callable[[str, str], Awaitable[tuple[str, bool]]]
                           ) -> tuple[str, Command]:
    """`/studybot SUB ...` as (SUB, the core's command); `profile` names a member given as @member."""
    sub, rest = split_subcommand(text)
    if sub == "setup":
        return sub, Setup(**parse_setup(rest))
    if sub == "digest":
        return sub, Digest(**parse_digest(rest))
    if sub in ("pause", "resume"):
        return sub, Pause(sub == "pause", parse_channel_only(rest, f"Usage: /studybot {sub} [#channel]"))
    if sub == "status":
        return sub, Status(parse_channel_only(rest, "Usage: /studybot status [#channel]"))
    if sub == "stats":
        target = user_ref(rest) if rest.strip() else None
        if rest.strip() and target is None:
            raise UserError("Usage: /studybot stats [@member]")
        if target is None:
            return sub, Stats()
        return sub, Stats(target[0], target[1] or (await profile(target[0], target[0]))[0])
    if sub == "daily":
        return sub, Daily()
    if sub == "appeals":
        return sub, Appeals()
    if sub == "question":
        if rest.strip().lower() != "add":
            raise UserError("Usage: /studybot question add")
        return sub, AddQuestion()
    if sub == "review":
        return sub, Review()
    if sub == "pool":
        return sub, parse_pool(rest)
    return sub, Help("" if sub == "help" else f"There is no /studybot {sub}. ")
