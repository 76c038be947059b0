"""The core's vocabulary: who acted and where, what a reply can be, a channel's settings, a stored post,
and the parsers for what admins type (times, zones, weekdays)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.bank.model import Question
from bot.errors import InvalidInput
from bot.messages import Form, Message
from bot.storage.port import Row
from bot.text import valid_text
from bot.zones import find_zone

PERIODS = {"week": "week", "month": "month", "all": "all", "30d": "30d", "alltime": "all", "all-time": "all",
           "30": "30d", "rolling": "30d", "this-week": "week", "this-month": "month"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
POOLS = ("shipped", "own", "both")  # a channel's question pool


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, and where. Ids are the platform's own (guild, channel, user)."""

    platform: str
    community: str
    channel: str
    user: str
    name: str = ""
    is_admin: bool = False
    community_name: str = ""
    channel_name: str = ""

    def __post_init__(self) -> None:
        for name in ("community", "channel", "user", "name", "community_name", "channel_name"):
            object.__setattr__(self, name, valid_text(getattr(self, name)))


@dataclass(frozen=True, slots=True)
class TextPrompt:
    """Ask the member for a free-text answer (a modal on Discord and Slack, a prompt in the console)."""

    post_id: int
    question: str


@dataclass(frozen=True, slots=True)
class AnswerResult:
    feedback: Message
    card: Message | None  # the public post with its new count, when the answer was recorded
    recorded: bool


Reply = Message | TextPrompt | Form


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    id: int
    community_id: int
    external_id: str
    enabled: bool
    paused: bool
    post_time: str
    timezone: str
    weekdays: tuple[str, ...]
    topics: tuple[str, ...]
    difficulties: tuple[str, ...]
    reveal_minutes: int | None
    digest_channel: str | None
    digest_weekday: str | None
    digest_time: str | None
    configured_by: str | None
    enabled_at: str | None
    platform: str
    community_external: str
    pool: str = "both"  # which questions: the shipped topics, the community's own, or both (POOLS)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(slots=True)
class PostRecord:
    """A post as the answer path needs it (cached per post)."""

    id: int
    channel_id: int
    community_id: int
    question_id: str
    kind: str
    order: tuple[int, ...]
    prev_daily: int | None
    local_date: str
    revealed: bool
    question: Question  # as the community that owns the post sees it (shipped, or its own)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def parse_time(text: str) -> str:
    try:
        parsed = datetime.strptime(text.strip(), "%H:%M")
    except ValueError as exc:
        raise InvalidInput(f"“{text}” is not a time; use 24-hour HH:MM, e.g. 09:00.") from exc
    return parsed.strftime("%H:%M")


def parse_zone(text: str) -> str:
    if find_zone(text) is None:
        shown = text.strip()[:40]
        raise InvalidInput(f"“{shown}” is not an IANA timezone; try Europe/Berlin or America/New_York.")
    return text.strip()


def parse_weekdays(text: str) -> tuple[str, ...]:
    text = text.strip().lower()
    if text in ("weekdays", "mon-fri"):
        return WEEKDAYS[:5]
    if text in ("daily", "every day", "all", "mon-sun"):
        return WEEKDAYS
    days = tuple(d.strip()[:3] for d in text.replace(" ", ",").split(",") if d.strip())
    bad = [d for d in days if d not in WEEKDAYS]
    if bad or not days:
        raise InvalidInput("Days are a comma list such as mon,wed,fri (or 'weekdays', 'daily').")
    return tuple(d for d in WEEKDAYS if d in days)


def parse_weekday(text: str) -> str:
    day = text.strip().lower()[:3]
    if day not in WEEKDAYS:
        raise InvalidInput("The digest day is a weekday such as mon or friday.")
    return day


def settings_from_row(r: Row) -> ChannelSettings:
    return ChannelSettings(
        id=r["id"], community_id=r["community_id"], external_id=r["external_id"],
        enabled=bool(r["enabled"]), paused=bool(r["paused"]), post_time=r["post_time"],
        timezone=r["timezone"], weekdays=tuple(d for d in r["weekdays"].split(",") if d),
        topics=tuple(t for t in r["topics"].split(",") if t),
        difficulties=tuple(d for d in r["difficulty_mix"].split(",") if d),
        reveal_minutes=r["reveal_minutes"], digest_channel=r["digest_channel"],
        digest_weekday=r["digest_weekday"], digest_time=r["digest_time"],
        configured_by=r["configured_by"], enabled_at=r["enabled_at"],
        platform=r["platform"],
        community_external=r["community_external"],
        pool=r["pool"] or "both",
    )
