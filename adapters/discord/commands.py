"""The application commands: /quiz, /daily, /leaderboard, /stats and the /studybot admin group.

Each callback only gathers its options and hands over to the platform, which calls the service, renders
the reply and deals with errors. Descriptions and choices follow Discord's limits (100 characters).
"""

from __future__ import annotations

import logging
import zoneinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from adapters.discord.render import clip
from bot.bank import Bank
from bot.dispatch import (
    AddQuestion,
    Appeals,
    Daily,
    Digest,
    Leaderboard,
    Pause,
    Quiz,
    Review,
    SetPool,
    Setup,
    Stats,
    Status,
)
from bot.domain import WEEKDAYS

log = logging.getLogger(__name__)
PLATFORM = "discord"

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordPlatform
    from adapters.discord.client import StudyClient

MAX_CHOICES = 25
PERIOD_CHOICES = [
    app_commands.Choice(name="This week", value="week"),
    app_commands.Choice(name="This month", value="month"),
    app_commands.Choice(name="Last 30 days", value="30d"),
    app_commands.Choice(name="All time", value="all"),
]
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_CHOICES = [app_commands.Choice(name=name, value=day) for name, day in zip(DAY_NAMES, WEEKDAYS, strict=True)]
DAYS_CHOICES = [
    app_commands.Choice(name="Weekdays (Mon-Fri)", value="weekdays"),
    app_commands.Choice(name="Every day", value="daily"),
    app_commands.Choice(name="Mon, Wed, Fri", value="mon,wed,fri"),
    app_commands.Choice(name="Tue, Thu", value="tue,thu"),
]
POOL_CHOICES = [
    app_commands.Choice(name="Shipped topics and our own questions", value="both"),
    app_commands.Choice(name="Shipped topics only", value="shipped"),
    app_commands.Choice(name="Our own questions only", value="own"),
]
ADMIN = discord.Permissions(manage_guild=True)


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def timezone_choices(current: str) -> list[app_commands.Choice[str]]:
    needle = current.strip().lower().replace(" ", "_")
    zones = _zones()
    found = [z for z in zones if z.lower().startswith(needle)] if needle else ["UTC", "Europe/London",
                                                                             "Europe/Berlin", "America/New_York",
                                                                             "America/Los_Angeles", "Asia/Tokyo"]
    if needle and len(found) < MAX_CHOICES:
        found += [z for z in zones if needle in z.lower() and z not in found]
    return [app_commands.Choice(name=z, value=z) for z in found[:MAX_CHOICES]]


def register(tree: app_commands.CommandTree[StudyClient], platform: DiscordPlatform) -> None:
    """Add every command to `tree`; callbacks call `platform`."""

    @tree.command(name="quiz", description="A practice question (no topic: your most overdue review)")
    @app_commands.describe(topic="A topic from the question bank", difficulty="Only questions of this level",
                           private="Only you see the question (default: the channel sees it)")
    @app_commands.guild_only()
    async def quiz(interaction: discord.Interaction[StudyClient], topic: str | None = None,
                   difficulty: Literal["easy", "medium", "hard"] | None = None, private: bool = False) -> None:
        await platform.handle(interaction, Quiz(topic, difficulty, private), defer_ephemeral=private)

    @quiz.autocomplete("topic")
    async def quiz_topic(interaction: discord.Interaction[StudyClient], current: str) -> list[app_commands.Choice[str]]:
        return topic_choices(await community_bank(platform, interaction), current)

    @tree.command(name="daily", description="Today's question in this channel, or when the next one comes")
    @app_commands.guild_only()
    async def daily(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Daily())

    @tree.command(name="leaderboard", description="Points in this server")
    @app_commands.describe(period="Which period (default: this week)", topic="Only points from this topic")
    @app_commands.choices(period=PERIOD_CHOICES)
    @app_commands.guild_only()
    async def leaderboard(interaction: discord.Interaction[StudyClient], period: str = "week",
                          topic: str | None = None) -> None:
        await platform.handle(interaction, Leaderboard(period, topic), defer_ephemeral=False)

    @leaderboard.autocomplete("topic")
    async def leaderboard_topic(interaction: discord.Interaction[StudyClient],
                                current: str) -> list[app_commands.Choice[str]]:
        return topic_choices(await community_bank(platform, interaction), current)

    @tree.command(name="stats", description="Points, accuracy, streaks, mastery and reviews due")
    @app_commands.describe(member="Whose stats (default: yours)")
    @app_commands.guild_only()
    async def stats(interaction: discord.Interaction[StudyClient], member: discord.User | None = None) -> None:
        await platform.handle(interaction, Stats() if member is None else Stats(str(member.id), member.display_name))

    group = app_commands.Group(name="studybot", description="Set up the daily question (needs Manage Server)",
                               guild_only=True, default_permissions=ADMIN)

    @group.command(name="setup", description="Post a daily question in a channel")
    @app_commands.describe(channel="Where the daily question is posted", time="24-hour HH:MM, e.g. 09:00",
                           timezone="IANA timezone, e.g. Europe/Berlin", days="Which days (default: weekdays)",
                           topics="Comma-separated topics (default: all)")
    @app_commands.choices(days=DAYS_CHOICES)
    async def setup(interaction: discord.Interaction[StudyClient], channel: discord.TextChannel,  # noqa: PLR0917
                    time: str, timezone: str, days: str = "weekdays", topics: str = "") -> None:
        await platform.handle(interaction, Setup(str(channel.id), time, timezone, days, topics))

    @setup.autocomplete("timezone")
    async def setup_timezone(interaction: discord.Interaction[StudyClient],
                             current: str) -> list[app_commands.Choice[str]]:
        return timezone_choices(current)

    @setup.autocomplete("topics")
    async def setup_topics(interaction: discord.Interaction[StudyClient],
                           current: str) -> list[app_commands.Choice[str]]:
        return topic_list_choices(await community_bank(platform, interaction), current)

    @group.command(name="digest", description="Where and when the weekly digest of this channel is posted")
    @app_commands.describe(channel="Where the digest is posted", day="Day of the week",
                           time="24-hour HH:MM, e.g. 09:00")
    @app_commands.choices(day=DAY_CHOICES)
    async def digest(interaction: discord.Interaction[StudyClient], channel: discord.TextChannel, day: str,
                     time: str) -> None:
        await platform.handle(interaction, Digest(str(channel.id), day, time))

    @group.command(name="pause", description="Pause the daily question in this channel")
    async def pause(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Pause(True))

    @group.command(name="resume", description="Resume the daily question in this channel")
    async def resume(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Pause(False))

    @group.command(name="status", description="How the daily question is set up in this channel")
    async def status(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Status())

    @group.command(name="appeals", description="Answers whose verdict members contested: uphold or reject")
    async def appeals(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Appeals())

    @group.command(name="review", description="Questions members wrote: approve, edit or reject, one at a time")
    async def review(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, Review())

    @group.command(name="pool", description="Where this channel's daily question and /quiz come from")
    @app_commands.describe(questions="Which questions", channel="Which channel (default: this one)")
    @app_commands.choices(questions=POOL_CHOICES)
    async def pool(interaction: discord.Interaction[StudyClient], questions: str,
                   channel: discord.TextChannel | None = None) -> None:
        await platform.handle(interaction, SetPool(questions, str(channel.id) if channel else None))

    # Writing a question opens a modal, which must be the first response: never deferred. /studybot is for
    # those with Manage Server, so members write theirs with /question add (the same form).
    admin_question = app_commands.Group(name="question", description="This server's own questions", parent=group)

    @admin_question.command(name="add", description="Write a question: published for this server at once")
    async def admin_add(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, AddQuestion(), can_defer=False)

    tree.add_command(group)

    question = app_commands.Group(name="question", description="Questions written by this server's members",
                                  guild_only=True)

    @question.command(name="add", description="Write a question: the admins review it before it is served")
    async def add(interaction: discord.Interaction[StudyClient]) -> None:
        await platform.handle(interaction, AddQuestion(), can_defer=False)

    tree.add_command(question)


async def community_bank(platform: DiscordPlatform, interaction: discord.Interaction[StudyClient]) -> Bank:
    """The topics this server sees: the shipped ones and its own."""
    if interaction.guild_id is None:
        return platform.service.bank
    try:
        return await platform.service.bank_for(await platform.service.community_id(PLATFORM, str(interaction.guild_id)))
    except Exception:
        log.exception("looking up the topics of server %s failed", interaction.guild_id)
        return platform.service.bank


def topic_choices(bank: Bank, current: str) -> list[app_commands.Choice[str]]:
    try:
        found = bank.search_topics(current, limit=MAX_CHOICES)
    except Exception:
        log.exception("topic autocomplete failed for %r", current)
        return []
    return [app_commands.Choice(name=clip(t.title, 100), value=t.slug) for t in found]

def topic_list_choices(bank: Bank, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete the last item of a comma-separated topic list."""
    done, _, last = current.rpartition(",")
    prefix = ",".join(p.strip() for p in done.split(",") if p.strip())
    chosen = set(prefix.split(",")) if prefix else set()
    out = []
    for choice in topic_choices(bank, last):
        value = f"{prefix},{choice.value}" if prefix else str(choice.value)
        if choice.value in chosen or len(value) > 100:
            continue
        out.append(app_commands.Choice(name=clip(value.replace(",", ", "), 100), value=value))
    return out
