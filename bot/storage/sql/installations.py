"""SQL for Slack app installations and the OAuth flow's one-time states (portable: see bot/storage/port.py).

Nothing here is kept in memory: every replica reads the same rows, so any replica can serve the install page,
the OAuth redirect or a workspace's request. A state is consumed with one DELETE ... RETURNING, so two
replicas given the same state cannot both accept it."""

from __future__ import annotations

from typing import Any

from bot.ports.installations import InstallationRecord
from bot.storage.port import Database

COLUMNS = ("enterprise_id, team_id, is_enterprise_install, app_id, bot_token, bot_id, bot_user_id, bot_scopes, "
           "installer, installed_at, data")


def _record(row: Any) -> InstallationRecord:
    return InstallationRecord(
        enterprise_id=row["enterprise_id"], team_id=row["team_id"],
        is_enterprise_install=bool(row["is_enterprise_install"]), app_id=row["app_id"], bot_token=row["bot_token"],
        bot_id=row["bot_id"], bot_user_id=row["bot_user_id"], bot_scopes=row["bot_scopes"],
        installer=row["installer"], installed_at=row["installed_at"], data=row["data"])


class SlackInstallations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, record: InstallationRecord) -> None:
        r = record
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO slack_installations ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (enterprise_id, team_id) DO UPDATE SET "
                "is_enterprise_install = excluded.is_enterprise_install, app_id = excluded.app_id, "
                "bot_token = excluded.bot_token, bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id, "
                "bot_scopes = excluded.bot_scopes, installer = excluded.installer, "
                "installed_at = excluded.installed_at, data = excluded.data",
                (r.enterprise_id, r.team_id, int(r.is_enterprise_install), r.app_id, r.bot_token, r.bot_id,
                 r.bot_user_id, r.bot_scopes, r.installer, r.installed_at, r.data))

    async def find(self, enterprise_id: str, team_id: str, *, is_enterprise_install: bool = False
                   ) -> InstallationRecord | None:
        if is_enterprise_install or not team_id:
            row = await self.db.fetchone(
                f"SELECT {COLUMNS} FROM slack_installations WHERE enterprise_id = ? AND team_id = ''",
                (enterprise_id,))
        else:
            row = await self.db.fetchone(
                f"SELECT {COLUMNS} FROM slack_installations WHERE team_id = ? ORDER BY installed_at DESC LIMIT 1",
                (team_id,))
        return None if row is None else _record(row)

    async def delete(self, enterprise_id: str, team_id: str) -> int:
        async with self.db.transaction() as tx:
            if team_id:
                cur = await tx.execute(
                    "DELETE FROM slack_installations WHERE team_id = ? RETURNING team_id", (team_id,))
            else:
                cur = await tx.execute(
                    "DELETE FROM slack_installations WHERE enterprise_id = ? AND team_id = '' RETURNING team_id",
                    (enterprise_id,))
            return len(await cur.fetchall())

    async def pause_channels(self, platform: str, team_id: str) -> int:
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE channels SET paused = 1 WHERE paused = 0 AND community_id IN "
                "(SELECT id FROM communities WHERE platform = ? AND external_id = ?) RETURNING id",
                (platform, team_id))
            return len(await cur.fetchall())

    async def issue_state(self, state: str, expires_at: str, now: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM slack_oauth_states WHERE expires_at <= ?", (now,))
            await tx.execute("INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)", (state, expires_at))

    async def consume_state(self, state: str, now: str) -> bool:
        async with self.db.transaction() as tx:
            cur = await tx.execute("DELETE FROM slack_oauth_states WHERE state = ? RETURNING expires_at", (state,))
            row = await cur.fetchone()
        return row is not None and str(row[0]) > now
