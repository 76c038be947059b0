"""Who a Slack member is: display name and admin rights from users.info, cached, looked up in the
background when nothing waits on it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import Where
from bot.config import Settings
from bot.service import Actor

log = logging.getLogger("adapters.slack.adapter")

PLATFORM = "slack"
NAME_TTL = 24 * 3600.0  # seconds a display name is trusted (names rarely change; a press never waits on one)
ADMIN_TTL = 600.0  # seconds admin rights are trusted (they gate admin commands, which wait for a fresh look)
USER_RETRY = 60.0  # seconds before asking users.info again about a member it failed for
MAX_PROFILES = 50_000  # profiles kept; the oldest are forgotten first


@dataclass(slots=True)
class _Profile:
    fetched: float
    name: str
    admin: bool
    failed: bool = False

    def fresh(self, now: float, ttl: float) -> bool:
        return now - self.fetched < (USER_RETRY if self.failed else ttl)


class People:
    def __init__(self, client: AsyncWebClient, settings: Settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self._users: OrderedDict[str, _Profile] = OrderedDict()
        self.lookups: dict[str, asyncio.Task[None]] = {}
        self._lookup_slots = asyncio.Semaphore(4)

    async def profile(self, user: str, fallback: str, *, ttl: float = ADMIN_TTL) -> tuple[str, bool]:
        """(display name, workspace admin or owner or listed in STUDYBOT_SLACK_ADMINS), from users.info
        unless a look at most `ttl` seconds old is cached."""
        now = self.clock()
        hit = self._users.get(user)
        if hit is not None and hit.fresh(now, ttl):
            return hit.name, hit.admin
        listed = user in self.settings.slack_admins
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            log.warning("slack: users.info %s failed: %s", user, exc.response.get("error"))
            self._remember(user, _Profile(now, fallback or user, listed, failed=True))  # not again at once
            return fallback or user, listed
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or info.get("real_name")
                   or info.get("name") or fallback or user)
        admin = listed or bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._remember(user, _Profile(now, name, admin))
        return name, admin

    def _remember(self, user: str, profile: _Profile) -> None:
        self._users[user] = profile
        self._users.move_to_end(user)
        while len(self._users) > MAX_PROFILES:
            self._users.popitem(last=False)

    async def actor(self, where: Where, *, admin_check: bool = False) -> Actor:
        """The member as the core sees them. users.info is awaited only when admin rights matter or the
        payload carries no name; otherwise the cached name (kept a day) or the payload's name is used, and
        a missing profile is looked up in the background, so a burst of members never waits on (or is rate
        limited by) users.info, and a member pressing again never causes another call."""
        cached = self._users.get(where.user)
        known = cached is not None and cached.fresh(self.clock(), NAME_TTL)
        if admin_check or (not where.name and not known):
            name, admin = await self.profile(where.user, where.name, ttl=ADMIN_TTL if admin_check else NAME_TTL)
        elif cached is not None and known:
            name, admin = cached.name, cached.admin
        else:
            name, admin = where.name or where.user, where.user in self.settings.slack_admins
            self._lookup_later(where.user, where.name)
        return Actor(PLATFORM, where.team, where.channel or "", where.user, name, admin,
                     community_name=where.team_name, channel_name=where.channel_name)

    def _lookup_later(self, user: str, fallback: str) -> None:
        if user in self.lookups:
            return

        async def lookup() -> None:
            try:
                async with self._lookup_slots:
                    await self.profile(user, fallback, ttl=NAME_TTL)
            except Exception:
                log.exception("slack: looking up %s failed", user)
            finally:
                self.lookups.pop(user, None)

        self.lookups[user] = asyncio.create_task(lookup())

    async def close(self) -> None:
        for task in list(self.lookups.values()):
            task.cancel()
        await asyncio.gather(*self.lookups.values(), return_exceptions=True)
