"""Slack for many workspaces: slack-bolt's OAuth install flow with its installations and one-time states kept
in the bot's database (SQLite or PostgreSQL, through bot/storage/sql/installations.py), so any replica can
serve the install page, the OAuth redirect and every workspace's requests.

Which workspace's token a Web API call uses is carried by a context variable: a request's listener sets it to
the token bolt's authorize found for the request's workspace, a scheduled post to the token stored for the
channel's workspace; the `WorkspaceClient` puts it on each call. Unset (one workspace, SLACK_BOT_TOKEN), the
client's own token is used, as before. Tokens are secrets: nothing here logs them.
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.clock import Clock
from bot.config import Settings
from bot.domain import iso
from bot.ports.installations import InstallationRecord, InstallationsPort

log = logging.getLogger("adapters.slack.adapter")
_oauth_log = logging.getLogger("adapters.slack.oauth")
_oauth_log.setLevel(logging.INFO)  # see oauth_flow

PLATFORM = "slack"
# The bot scopes the install flow asks for: the same as deploy/slack-manifest.yaml (a test compares them).
BOT_SCOPES = ("commands", "chat:write", "chat:write.public", "im:write", "users:read", "files:write")
STATE_SECONDS = 600  # an install link works this long, once
SECRET_FIELDS = ("bot_token",)  # kept in its own column, not in the JSON
_INSTALLATION_FIELDS = frozenset(inspect.signature(Installation.__init__).parameters) - {"self"}

_token: ContextVar[str | None] = ContextVar("studybot_slack_token", default=None)


def current_token() -> str | None:
    return _token.get()


@contextmanager
def using_token(token: str | None) -> Iterator[None]:
    """Web API calls made inside the block (and by tasks it starts) use `token`; None: the client's own."""
    reset = _token.set(token)
    try:
        yield
    finally:
        _token.reset(reset)


class WorkspaceClient(AsyncWebClient):
    """An AsyncWebClient whose calls use the current workspace's token (see `using_token`) unless the call
    names its own token or credentials (oauth.v2.access, bolt's auth.test of a stored token)."""

    async def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict[str, Any] | None = None,
                       data: Any = None, params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                       headers: dict[str, Any] | None = None, auth: dict[str, Any] | None = None,
                       ) -> AsyncSlackResponse:
        token = _token.get()
        explicit = any(isinstance(part, dict) and part.get("token") for part in (params, json, data))
        if token and auth is None and not explicit and not (headers and "Authorization" in headers):
            headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return await super().api_call(api_method, http_verb=http_verb, files=files, data=data, params=params,
                                      json=json, headers=headers, auth=auth)


def _record(installation: Installation) -> InstallationRecord:
    data = {k: v for k, v in vars(installation).items() if k in _INSTALLATION_FIELDS and k not in SECRET_FIELDS}
    enterprise_install = bool(installation.is_enterprise_install)
    return InstallationRecord(
        enterprise_id=installation.enterprise_id or "",
        team_id="" if enterprise_install else installation.team_id or "",
        is_enterprise_install=enterprise_install, app_id=installation.app_id, bot_token=installation.bot_token,
        bot_id=installation.bot_id, bot_user_id=installation.bot_user_id,
        bot_scopes=",".join(installation.bot_scopes or ()), installer=installation.user_id or None,
        installed_at=iso(datetime.fromtimestamp(installation.installed_at, UTC)), data=json.dumps(data, sort_keys=True))


def _installation(record: InstallationRecord) -> Installation:
    data = {k: v for k, v in json.loads(record.data).items() if k in _INSTALLATION_FIELDS}
    data["bot_token"] = record.bot_token
    data["user_id"] = data.get("user_id") or ""
    return Installation(**data)


class DatabaseInstallationStore(AsyncInstallationStore):
    """slack-sdk's installation store interface over the bot's database: one installation per workspace
    (the latest), looked up on every request (nothing kept in memory)."""

    def __init__(self, rows: InstallationsPort) -> None:
        self.rows = rows

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.rows.save(_record(installation))
        log.info("slack: installed in workspace %s (%s) by %s", installation.team_id or installation.enterprise_id,
                 installation.team_name or installation.enterprise_name or "?", installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        """A rotated bot token: kept with the rest of the workspace's installation."""
        found = await self.async_find_installation(enterprise_id=bot.enterprise_id, team_id=bot.team_id,
                                                   is_enterprise_install=bot.is_enterprise_install)
        fields = {k: v for k, v in vars(bot).items() if k in _INSTALLATION_FIELDS}
        if found is None:
            installation = Installation(**{**fields, "user_id": ""})
        else:
            installation = Installation(**{**{k: v for k, v in vars(found).items() if k in _INSTALLATION_FIELDS},
                                           **fields})
        await self.rows.save(_record(installation))

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None, is_enterprise_install: bool | None = False,
                                      ) -> Installation | None:
        record = await self.rows.find(enterprise_id or "", team_id or "",
                                      is_enterprise_install=bool(is_enterprise_install))
        if record is None or (user_id is not None and record.installer != user_id):
            return None
        return _installation(record)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        installation = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id,
                                                          is_enterprise_install=is_enterprise_install)
        if installation is None or not installation.bot_token:
            return None
        return installation.to_bot()

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        gone = await self.rows.delete(enterprise_id or "", team_id or "")
        log.info("slack: removed the bot token of workspace %s (%d installation)", team_id or enterprise_id, gone)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            return
        # studybot asks for no user scopes; should an installer's user token exist, it alone goes.
        found = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        if found is not None and found.user_token:
            found.user_token = found.user_refresh_token = None
            found.user_token_expires_at = None
            await self.rows.save(_record(found))

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def bot_token(self, team_id: str) -> str | None:
        """The bot token of workspace `team_id`, for posts no request asked for (the scheduler's)."""
        record = await self.rows.find("", team_id)
        return None if record is None else record.bot_token


class DatabaseStateStore(AsyncOAuthStateStore):
    """The install flow's state parameter: issued by any replica, accepted once by any replica before it
    expires (the service clock decides)."""

    def __init__(self, rows: InstallationsPort, clock: Clock, expiration_seconds: int = STATE_SECONDS) -> None:
        self.rows = rows
        self.clock = clock
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        now = self.clock.now()
        await self.rows.issue_state(state, iso(now + timedelta(seconds=self.expiration_seconds)), iso(now))
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        ok = await self.rows.consume_state(state, iso(self.clock.now()))
        if not ok:
            log.warning("slack: refused an OAuth redirect with an unknown, used or expired state")
        return ok


def oauth_flow(settings: Settings, store: DatabaseInstallationStore, states: DatabaseStateStore, *,
               base_url: str, retry_handlers: list[AsyncRetryHandler]) -> AsyncOAuthFlow:
    """The install flow (/slack/install, /slack/oauth_redirect) with every value given explicitly (bolt would
    otherwise read SLACK_SCOPES and others from the environment). Its client logs nothing below INFO: at DEBUG
    slack-sdk logs response bodies, and oauth.v2.access answers with the new token."""
    oauth = AsyncOAuthSettings(
        client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, scopes=list(BOT_SCOPES),
        user_scopes=[], redirect_uri=settings.slack_redirect_uri or None, install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect", installation_store=store, installation_store_bot_only=True,
        state_store=states, state_expiration_seconds=states.expiration_seconds,
        logger=logging.getLogger("slack_bolt"))
    # The same authorize bolt builds, with its auth.test answers cached per token: a burst of first requests
    # from one workspace costs one auth.test. A token no longer stored is never looked up in that cache.
    oauth.authorize = AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt"), client_id=oauth.client_id, client_secret=oauth.client_secret,
        installation_store=store, bot_only=True, cache_enabled=True,
        token_rotation_expiration_minutes=oauth.token_rotation_expiration_minutes)
    client = AsyncWebClient(base_url=base_url, retry_handlers=retry_handlers, logger=_oauth_log)
    return AsyncOAuthFlow(client=client, logger=logging.getLogger("slack_bolt"), settings=oauth)
