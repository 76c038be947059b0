"""Member names on Slack: looked up once, kept a day; admin rights re-checked after ten minutes."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.events import Where
from adapters.slack.people import ADMIN_TTL, NAME_TTL, People
from bot.config import Settings


class CountingUsersApi:
    """Stands in for the Web API client's users.info (the real client against the fake Slack is covered
    in test_slack.py); counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def users_info(self, user: str) -> dict[str, Any]:
        self.calls.append(user)
        return {"user": {"profile": {"display_name": f"Name of {user}"}, "is_admin": user == "UADMIN"}}


async def test_presses_reuse_a_known_name_for_a_day() -> None:
    api, now = CountingUsersApi(), [0.0]
    people = People(api, Settings(), clock=lambda: now[0])  # type: ignore[arg-type]
    first = await people.actor(Where(team="T", user="U1", name="u1.handle", channel="C"))
    assert first.name == "u1.handle"  # the payload's name at once; the profile is looked up meanwhile
    await asyncio.gather(*people.lookups.values())
    now[0] += ADMIN_TTL * 3
    for _ in range(5):
        again = await people.actor(Where(team="T", user="U1", name="u1.handle", channel="C"))
        assert again.name == "Name of U1"
    assert api.calls == ["U1"]
    now[0] += NAME_TTL
    await people.actor(Where(team="T", user="U1", name="u1.handle", channel="C"))
    await asyncio.gather(*people.lookups.values())
    assert api.calls == ["U1", "U1"]


async def test_admin_commands_recheck_rights_after_ten_minutes() -> None:
    api, now = CountingUsersApi(), [0.0]
    people = People(api, Settings(), clock=lambda: now[0])  # type: ignore[arg-type]
    assert (await people.actor(Where(team="T", user="UADMIN", name="a"), admin_check=True)).is_admin
    await people.actor(Where(team="T", user="UADMIN", name="a"), admin_check=True)
    assert len(api.calls) == 1
    now[0] += ADMIN_TTL + 1
    await people.actor(Where(team="T", user="UADMIN", name="a"), admin_check=True)
    assert len(api.calls) == 2
