"""Admin commands: set up a channel, its digest, pause and resume, status."""

from __future__ import annotations

from bot.bank.model import DIFFICULTIES
from bot.domain import (
    Actor,
    iso,
    parse_time,
    parse_weekday,
    parse_weekdays,
    parse_zone,
)
from bot.errors import InvalidInput, PermissionDenied
from bot.messages import Message, ephemeral
from bot.usecases.base import ServiceBase

POOL_NAMES = {"shipped": "shipped topics", "own": "own questions", "both": "shipped topics and own questions"}


class Admin(ServiceBase):
    def _require_admin(self, actor: Actor, what: str) -> None:
        if not actor.is_admin:
            raise PermissionDenied(what)

    async def setup(self, actor: Actor, *, channel: str | None = None, time: str = "09:00",
                    timezone: str | None = None, days: str = "weekdays", topics: str = "",
                    difficulties: str = "", reveal_minutes: int | None = None) -> Message:
        self._require_admin(actor, "/studybot setup")
        post_time = parse_time(time)
        zone = parse_zone(timezone or self.default_timezone)
        weekdays = parse_weekdays(days)
        bank = await self.actor_bank(actor)
        topic_slugs = [bank.find_topic(t).slug for t in topics.split(",") if t.strip()]
        levels = [d.strip().lower() for d in difficulties.split(",") if d.strip()]
        if any(level not in DIFFICULTIES for level in levels):
            raise InvalidInput(f"Difficulties are a comma list of {', '.join(DIFFICULTIES)}.")
        channel_id = await self.channel_id(actor, channel)
        await self.store.channels.setup(
            channel_id, post_time=post_time, timezone=zone, weekdays=",".join(weekdays), topics=",".join(topic_slugs),
            difficulties=",".join(levels), reveal_minutes=reveal_minutes, configured_by=actor.user,
            enabled_at=iso(self.clock.now()))
        self._settings.clear()
        return await self.status(actor, channel)

    async def set_digest(self, actor: Actor, *, channel: str | None = None, day: str = "mon",
                         time: str = "09:00", for_channel: str | None = None) -> Message:
        """The weekly digest of `for_channel`'s community goes to `channel` on `day` at `time`."""
        self._require_admin(actor, "/studybot digest")
        weekday, at = parse_weekday(day), parse_time(time)
        source = await self.channel_id(actor, for_channel)
        target = channel or actor.channel
        await self.store.channels.set_digest(source, target=target, weekday=weekday, at=at)
        self._settings.clear()
        return ephemeral(f"The weekly digest will be posted every {weekday.capitalize()} at {at}.")

    async def set_paused(self, actor: Actor, paused: bool, channel: str | None = None) -> Message:
        self._require_admin(actor, "/studybot pause" if paused else "/studybot resume")
        channel_id = await self.channel_id(actor, channel)
        await self.store.channels.set_paused(channel_id, paused)
        self._settings.clear()
        return ephemeral("Paused: no daily questions here until /studybot resume." if paused
                         else "Resumed: daily questions are back on.")

    async def status(self, actor: Actor, channel: str | None = None) -> Message:
        self._require_admin(actor, "/studybot status")
        s = await self.channel_settings(await self.channel_id(actor, channel))
        if not s.enabled:
            return ephemeral("No daily question is set up here. Use /studybot setup.")
        state = "paused" if s.paused else "active"
        topics = ", ".join(s.topics) or "all topics"
        levels = ", ".join(s.difficulties) or "all difficulties"
        reveal = f"{s.reveal_minutes} min after posting" if s.reveal_minutes else "just before the next question"
        digest = f"{(s.digest_weekday or 'mon').capitalize()} {s.digest_time}" if s.digest_time else "off"
        return ephemeral(
            f"Daily question: {state}, {s.post_time} {s.timezone} on {', '.join(s.weekdays)}\n"
            f"Topics: {topics} · {levels}\nQuestion pool: {POOL_NAMES.get(s.pool, s.pool)}\nReveal: {reveal}\n"
            f"Weekly digest: {digest}",
            title="studybot status")
