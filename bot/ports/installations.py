"""The storage port for Slack app installations (the OAuth install flow for many workspaces) and the flow's
one-time states. Plain values only: the Slack adapter turns them into slack-sdk's Installation and Bot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InstallationRecord:
    """One workspace's (or Enterprise Grid org's, team_id '') installation. `bot_token` is a secret: never
    log or show it. `data` is the installation as JSON text, without the bot token."""

    enterprise_id: str
    team_id: str
    is_enterprise_install: bool
    app_id: str | None
    bot_token: str | None
    bot_id: str | None
    bot_user_id: str | None
    bot_scopes: str
    installer: str | None
    installed_at: str
    data: str


class InstallationsPort(Protocol):
    """Implemented by bot/storage/sql/installations.py for both backends."""

    async def save(self, record: InstallationRecord) -> None:
        """Insert or replace the workspace's installation (the latest one wins)."""
        ...

    async def find(self, enterprise_id: str, team_id: str, *, is_enterprise_install: bool = False
                   ) -> InstallationRecord | None:
        """A workspace's installation by team id (team ids are unique across orgs), or an org-wide one."""
        ...

    async def delete(self, enterprise_id: str, team_id: str) -> int:
        """Remove the installation; how many rows went."""
        ...

    async def pause_channels(self, platform: str, team_id: str) -> int:
        """Pause every channel of the community (platform, team id); how many were running."""
        ...

    async def issue_state(self, state: str, expires_at: str, now: str) -> None:
        """Keep a new OAuth state until `expires_at` (expired ones are dropped on the way)."""
        ...

    async def consume_state(self, state: str, now: str) -> bool:
        """True once for a state issued and not yet expired at `now`; it is gone afterwards."""
        ...
