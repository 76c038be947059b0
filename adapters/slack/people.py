"""Who a Slack member is: display name and admin rights from users.info, cached, looked up in the
background when nothing waits on it."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import Where
from bot.config import Settings
from bot.service import Actor

log = logging.getLogger("adapters.slack.adapter")

PLATFORM = "slack"
USER_TTL = 600.0  # seconds a users.info answer (name, admin) is trusted
USER_RETRY = 60.0  # seconds before asking users.info again about a member it failed for


class People:
    def __init__(self, client: AsyncWebClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._users: dict[str, tuple[float, str, bool]] = {}
        self.lookups: dict[str, asyncio.Task[None]] = {}
        self._lookup_slots = asyncio.Semaphore(4)

    async def profile(self, user: str, fallback: str) -> tuple[str, bool]:
        """(display name, workspace admin or owner or listed in STUDYBOT_SLACK_ADMINS), cached."""
        now = time.monotonic()
        hit = self._users.get(user)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        listed = user in self.settings.slack_admins
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            log.warning("slack: users.info %s failed: %s", user, exc.response.get("error"))
            self._users[user] = (now + USER_RETRY, fallback or user, listed)  # do not ask again at once
            return fallback or user, listed
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or info.get("real_name")
                   or info.get("name") or fallback or user)
        admin = listed or bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._users[user] = (now + USER_TTL, name, admin)
        return name, admin

    async def actor(self, where: Where, *, admin_check: bool = False) -> Actor:
        """The member as the core sees them. users.info is awaited only when admin rights matter or the
        payload carries no name; otherwise a cache miss uses the payload's name and looks the profile up in
        the background, so a burst of first-time members never waits on (or is rate limited by) users.info."""
        cached = self._users.get(where.user)
        if cached is not None and cached[0] > time.monotonic():
            name, admin = cached[1], cached[2]
        elif admin_check or not where.name:
            name, admin = await self.profile(where.user, where.name)
        else:
            name, admin = where.name, where.user in self.settings.slack_admins
            self._lookup_later(where.user, where.name)
        return Actor(PLATFORM, where.team, where.channel or "", where.user, name, admin,
                     community_name=where.team_name, channel_name=where.channel_name)

    def _lookup_later(self, user: str, fallback: str) -> None:
        if user in self.lookups:
            return

        async def lookup() -> None:
            try:
                async with self._lookup_slots:
                    await self.profile(user, fallback)
            except Exception:
                log.exception("slack: looking up %s failed", user)
            finally:
                self.lookups.pop(user, None)

        self.lookups[user] = asyncio.create_task(lookup())

    async def close(self) -> None:
        for task in list(self.lookups.values()):
            task.cancel()
        await asyncio.gather(*self.lookups.values(), return_exceptions=True)
