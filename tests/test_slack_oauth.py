"""Slack for many workspaces: the real slack-bolt's OAuth install flow against the fake Slack, installations and
one-time OAuth states in the bot's database (both backends, through the `service` fixture), each workspace's
requests and scheduled posts made with its own token, and uninstalls that remove the tokens and pause the
workspace's channels."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import aiohttp
import pytest
import yaml

from adapters.app import _RedactingHandler, _RedactSecrets
from adapters.slack.adapter import SlackPlatform
from adapters.slack.installations import BOT_SCOPES, STATE_SECONDS
from adapters.slack.publisher import ChannelUnavailable
from bot.clock import ManualClock
from bot.config import Settings
from bot.messages import Message
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.storage.sql.installations import SlackInstallations
from tests.conftest import ROOT
from tests.fakes.slack_server import APP_ID, FakeSlack
from tests.test_slack import SECRET, all_text, button_ids, signature, trigger

ADMIN = "UADMIN"
CHANNELS = {"T1": "C1", "T2": "C2"}
COOKIE = "slack-app-oauth-state"


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 5.0) -> None:
    """Wait for work that runs after Slack's request was answered (and calls no Slack API to wait on)."""
    deadline = time.monotonic() + seconds
    while True:
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return
        assert time.monotonic() < deadline, "not done in time"
        await asyncio.sleep(0.02)


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]


class Workspaces:
    """Sends what Slack and a browser would send to one or more replicas of the app."""

    def __init__(self, fake: FakeSlack, platforms: list[SlackPlatform], service: StudyService,
                 session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.platforms = platforms
        self.platform = platforms[0]
        self.service = service
        self.session = session
        self.rows = SlackInstallations(service.db)

    def url(self, path: str, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self.platforms[replica].port}{path}"

    async def get(self, path: str, *, replica: int = 0, cookie: str | None = None) -> Page:
        headers = {"Cookie": cookie} if cookie else {}
        async with self.session.get(self.url(path, replica), headers=headers, allow_redirects=False) as resp:
            return Page(resp.status, await resp.text(), dict(resp.headers))

    async def start_install(self, replica: int = 0) -> str:
        """The install page: a link to slack.com carrying a fresh state, and that state as a cookie."""
        page = await self.get("/slack/install", replica=replica)
        assert page.status == 200
        found = re.search(r"state=([A-Za-z0-9_\-]+)", page.text)
        assert found is not None
        state = found.group(1)
        assert f"{COOKIE}={state}" in page.headers["Set-Cookie"]
        assert "client_id=" + self.fake.client_id in page.text
        scopes = re.search(r"[?&;]scope=([^&\"]+)", page.text)
        assert scopes is not None and tuple(unquote(scopes.group(1)).split(",")) == BOT_SCOPES
        return state

    async def finish_install(self, state: str, code: str, *, replica: int = 0, cookie: bool = True) -> Page:
        query = urlencode({"code": code, "state": state})
        return await self.get(f"/slack/oauth_redirect?{query}", replica=replica,
                              cookie=f"{COOKIE}={state}" if cookie else None)

    async def install(self, team: str, user: str = "UINSTALLER", *, replica: int = 0) -> str:
        """The whole install flow for `team`; its new bot token."""
        state = await self.start_install(replica)
        page = await self.finish_install(state, self.fake.grant(team, user), replica=replica)
        assert page.status == 200, page.text
        [token] = self.fake.tokens_of(team)
        return token

    async def post(self, body: str, content_type: str, *, replica: int = 0) -> int:
        ts = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature(body, ts)}
        async with self.session.post(self.url("/slack/events", replica), data=body.encode(), headers=headers) as resp:
            await resp.read()
            return resp.status

    async def command(self, team: str, command: str, text: str = "", *, user: str = "U1",
                      replica: int = 0) -> int:
        form = {"token": "legacy", "team_id": team, "team_domain": team.lower(), "channel_id": CHANNELS[team],
                "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
                "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
                "response_url": self.fake.response_url(), "trigger_id": trigger()}
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", replica=replica)

    async def press(self, team: str, action_id: str, *, user: str, message_ts: str) -> int:
        channel = CHANNELS[team]
        payload = {
            "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger(),
            "team": {"id": team, "domain": team.lower()}, "enterprise": None, "is_enterprise_install": False,
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
            "actions": [{"action_id": action_id, "block_id": "b1", "value": action_id, "type": "button",
                         "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}],
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "general"}, "response_url": self.fake.response_url(),
            "message": {"type": "message", "ts": message_ts, "text": "card"}}
        return await self.post("payload=" + json.dumps(payload), "application/x-www-form-urlencoded")

    async def event(self, team: str, event: dict[str, Any]) -> int:
        body = {"token": "legacy", "team_id": team, "api_app_id": APP_ID, "event": event, "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10], "event_time": int(time.time()),
                "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}]}
        return await self.post(json.dumps(body), "application/json")

    async def quiz_card(self, team: str) -> tuple[int, str]:
        """/quiz in the workspace's channel; (post id, message ts) of the card it posted."""
        channel = CHANNELS[team]
        before = len(self.fake.to("chat.postMessage"))
        assert await self.command(team, "/quiz", "statistics") == 200
        posted = await self.fake.wait_for(
            lambda: [a for a in self.fake.to("chat.postMessage")[before:] if a["channel"] == channel])
        answers = [i for i in button_ids(posted[0]["blocks"]) if i.startswith("sb:a:")]
        ts = next(ts for (ch, ts), m in self.fake.messages.items() if ch == channel and m["blocks"] == posted[0]["blocks"])
        return int(answers[0].split(":")[2]), ts

    async def set_up(self, team: str) -> int:
        """An admin of `team` sets up the daily question in its channel; the channel's id."""
        assert await self.command(team, "/studybot", "setup 09:00 UTC weekdays", user=ADMIN) == 200
        await self.fake.wait_calls("chat.postEphemeral", where=lambda a: a["channel"] == CHANNELS[team]
                                   and a["user"] == ADMIN)
        channel_id = await self.service.channel_id(Actor("slack", team, CHANNELS[team], ADMIN))
        assert (await self.service.channel_settings(channel_id)).enabled
        return channel_id

    def used_tokens(self, *, channel: str | None = None) -> set[str]:
        """The tokens of the app's Web API calls (about `channel` if given), the OAuth exchange aside."""
        return {c.token for c in self.fake.calls if c.method != "oauth.v2.access"
                and (channel is None or c.args.get("channel") == channel)}


def oauth_settings(fake: FakeSlack, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(database=tmp_path / "unused.sqlite3", slack_client_id=fake.client_id,
                    slack_client_secret=fake.client_secret, slack_signing_secret=SECRET, slack_port=0,
                    slack_api_url=fake.api_url, **extra)


@asynccontextmanager
async def open_workspaces(service: StudyService, tmp_path: Path, *, replicas: int = 1,
                          **extra: Any) -> AsyncIterator[Workspaces]:
    fake = await FakeSlack(token="xoxb-single-T1", team="T1").start()
    if "slack_bot_token" not in extra:
        fake.revoke("T1")  # no workspace has a token until it installs the app
    fake.users[ADMIN] = {"is_admin": True}
    platforms = []
    try:
        for _ in range(replicas):
            platform = SlackPlatform(service, oauth_settings(fake, tmp_path, **extra), host="127.0.0.1")
            platforms.append(platform)
            await platform.start()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            yield Workspaces(fake, platforms, service, session)
    finally:
        for platform in platforms:
            await platform.stop()
        await fake.stop()


@pytest.fixture
async def slack(service: StudyService, tmp_path: Path) -> AsyncIterator[Workspaces]:
    async with open_workspaces(service, tmp_path) as harness:
        yield harness


# ----------------------------------------------------------------- install, then each workspace with its token
async def test_two_workspaces_install_and_each_is_answered_with_its_own_token(
        slack: Workspaces, clock: ManualClock) -> None:
    fake, rows = slack.fake, slack.rows
    assert slack.platform.mode == "http"
    token = {team: await slack.install(team, f"UINST{team}") for team in ("T1", "T2")}
    assert token["T1"] != token["T2"]
    for team in ("T1", "T2"):
        record = await rows.find("", team)
        assert record is not None and record.bot_token == token[team] and record.installer == f"UINST{team}"
        assert record.bot_user_id == fake.bot_users[team] and record.bot_id == f"B{team}STUDYBOT"
        assert set(record.bot_scopes.split(",")) == set(BOT_SCOPES)
        assert token[team] not in record.data  # the token has its own column, not a copy in the JSON

    # A slash command and a button from each workspace: every call made for it uses that workspace's token.
    cards = {team: await slack.quiz_card(team) for team in ("T1", "T2")}
    for team, (post_id, ts) in cards.items():
        assert await slack.press(team, f"sb:a:{post_id}:0", user=f"U{team}", message_ts=ts) == 200
    for team, (_, ts) in cards.items():
        channel = CHANNELS[team]
        await fake.wait_for(lambda c=channel, t=ts: "1 person has answered." in all_text(fake.messages[(c, t)]))
        await fake.wait_calls("chat.postEphemeral", where=lambda a, c=channel: a["channel"] == c)
    await slack.platform.drain(5)
    for team in ("T1", "T2"):
        assert slack.used_tokens(channel=CHANNELS[team]) == {token[team]}
        assert {c.args["channel"] for c in fake.made("chat.update", team=team)} == {CHANNELS[team]}
        assert {c.args["channel"] for c in fake.made("chat.postEphemeral", team=team)} == {CHANNELS[team]}
    assert all(c.ok for c in fake.calls if c.method != "oauth.v2.access"), "no call was made with a wrong token"

    # Scheduled posts (no request to take a token from) use the token stored for the channel's workspace.
    for team in ("T1", "T2"):
        await slack.set_up(team)
    scheduler = Scheduler(slack.service, {"slack": slack.platform.publisher})
    wake = await scheduler.next_wakeup()
    assert wake is not None
    clock.set(wake)
    before = len(fake.calls)
    results = await scheduler.run_due()
    assert sorted((job.kind, message is not None) for job, message in results) == [("daily", True)] * 2
    daily = [c for c in fake.calls[before:] if c.method == "chat.postMessage"]
    assert {(c.args["channel"], c.token) for c in daily} == {(CHANNELS[t], token[t]) for t in ("T1", "T2")}


async def test_any_replica_serves_any_step(service: StudyService, tmp_path: Path) -> None:
    """No state in memory: the install page from one replica, the redirect to the other, requests to either."""
    async with open_workspaces(service, tmp_path, replicas=2) as slack:
        state = await slack.start_install(replica=0)
        page = await slack.finish_install(state, slack.fake.grant("T1"), replica=1)
        assert page.status == 200, page.text
        [token] = slack.fake.tokens_of("T1")
        assert await slack.command("T1", "/quiz", "statistics", replica=1) == 200
        [post] = await slack.fake.wait_calls("chat.postMessage")
        assert post["channel"] == "C1" and slack.used_tokens() == {token}
        # the state was used up by replica 1: replica 0 refuses it too
        again = await slack.finish_install(state, slack.fake.grant("T2"), replica=0)
        assert again.status != 200 and await slack.rows.find("", "T2") is None


# ----------------------------------------------------------------- the OAuth state
async def test_a_stale_reused_unknown_or_cookieless_state_is_refused(slack: Workspaces, clock: ManualClock) -> None:
    fake, rows = slack.fake, slack.rows
    state = await slack.start_install()
    assert (await slack.finish_install(state, fake.grant("T1"))).status == 200
    reused = await slack.finish_install(state, fake.grant("T2"))
    assert reused.status == 401 and await rows.find("", "T2") is None

    stale = await slack.start_install()
    clock.advance(timedelta(seconds=STATE_SECONDS + 1))
    refused = await slack.finish_install(stale, fake.grant("T2"))
    assert refused.status == 401 and await rows.find("", "T2") is None
    # ... and it is gone: going back in time does not bring it back
    clock.advance(timedelta(seconds=-(STATE_SECONDS + 1)))
    assert (await slack.finish_install(stale, fake.grant("T2"))).status == 401

    assert (await slack.finish_install("made-up-state", fake.grant("T2"))).status == 401
    fresh = await slack.start_install()
    assert (await slack.finish_install(fresh, fake.grant("T2"), cookie=False)).status == 400  # another browser
    assert await rows.find("", "T2") is None
    assert fake.tokens_of("T2") == set()  # no code was ever exchanged for a refused state
    # the refused cookieless state still works from the browser that started it
    assert (await slack.finish_install(fresh, fake.grant("T2"))).status == 200
    assert await rows.find("", "T2") is not None


async def test_a_denied_or_bad_code_stores_nothing(slack: Workspaces) -> None:
    state = await slack.start_install()
    page = await slack.get(f"/slack/oauth_redirect?error=access_denied&state={state}", cookie=f"{COOKIE}={state}")
    assert page.status == 200 and await slack.rows.find("", "T1") is None
    state = await slack.start_install()
    assert (await slack.finish_install(state, "not-a-code")).status == 401
    assert await slack.rows.find("", "T1") is None


# ----------------------------------------------------------------- uninstall
@pytest.mark.parametrize("how", ["app_uninstalled", "tokens_revoked"])
async def test_uninstall_removes_the_tokens_and_pauses_the_workspace(slack: Workspaces, clock: ManualClock,
                                                                     how: str) -> None:
    fake, rows, service = slack.fake, slack.rows, slack.service
    token = {team: await slack.install(team) for team in ("T1", "T2")}
    channel = {team: await slack.set_up(team) for team in ("T1", "T2")}

    fake.revoke("T2")
    event = ({"type": "app_uninstalled"} if how == "app_uninstalled"
             else {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTT2"]}})
    assert await slack.event("T2", event) == 200

    async def gone() -> bool:
        return await rows.find("", "T2") is None and (await service.channel_settings(channel["T2"])).paused

    await eventually(gone)
    t1 = await rows.find("", "T1")
    assert t1 is not None and t1.bot_token == token["T1"]
    assert not (await service.channel_settings(channel["T1"])).paused

    # T2's requests find no installation: nothing is posted there; T1 goes on as before.
    before = len(fake.calls)
    assert await slack.command("T2", "/quiz", "statistics") == 200
    await slack.quiz_card("T1")
    await slack.platform.drain(5)
    assert not [c for c in fake.calls[before:] if c.args.get("channel") == CHANNELS["T2"]]
    assert token["T2"] not in slack.used_tokens() - {c.token for c in fake.calls[:before]}

    # The scheduler posts only in T1 (T2 is paused); a post for T2 anyway is refused before any call.
    scheduler = Scheduler(service, {"slack": slack.platform.publisher})
    wake = await scheduler.next_wakeup()
    assert wake is not None
    clock.set(wake)
    before = len(fake.calls)
    results = await scheduler.run_due()
    assert [(job.channel_id, message is not None) for job, message in results] == [(channel["T1"], True)]
    assert {(c.args["channel"], c.token) for c in fake.calls[before:] if c.method == "chat.postMessage"} == {
        (CHANNELS["T1"], token["T1"])}
    with pytest.raises(ChannelUnavailable, match="not installed"):
        await slack.platform.publisher.publish(await service.channel_settings(channel["T2"]), Message("hello"))

    # Installed again: T2 gets a new token (its channels stay paused until an admin resumes them).
    new = await slack.install("T2")
    assert new != token["T2"] and (await rows.find("", "T2")) is not None
    assert (await service.channel_settings(channel["T2"])).paused


# ----------------------------------------------------------------- settings, secrets, migration from one token
async def test_a_single_token_also_set_keeps_its_workspace_working(service: StudyService, tmp_path: Path) -> None:
    """Moving from SLACK_BOT_TOKEN to the OAuth flow: the token's workspace is stored as installed."""
    async with open_workspaces(service, tmp_path, slack_bot_token="xoxb-single-T1") as slack:
        record = await slack.rows.find("", "T1")
        assert record is not None and record.bot_token == "xoxb-single-T1"
        await slack.quiz_card("T1")
        assert slack.used_tokens(channel="C1") == {"xoxb-single-T1"}


async def test_tokens_and_the_client_secret_never_reach_the_logs(slack: Workspaces,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG: the app's and Slack's libraries' own records never carry a token; the database drivers log
    statements with their parameters, which the bot's log handler redacts by the tokens' shape."""
    stream = io.StringIO()
    handler = _RedactingHandler(_RedactSecrets(oauth_settings(slack.fake, Path("x")).secrets()))
    handler.setStream(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        token = await slack.install("T1")
        await slack.quiz_card("T1")
        slack.fake.revoke("T1")
        assert await slack.event("T1", {"type": "app_uninstalled"}) == 200
        await eventually(lambda: "paused its" in stream.getvalue())
    finally:
        root.removeHandler(handler)
    secret = slack.fake.client_secret
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("adapters", "bot", "slack_bolt", "slack_sdk")]
    assert ours and not [r.getMessage() for r in ours if token in r.getMessage() or secret in r.getMessage()]
    written = stream.getvalue()
    assert "installed in workspace T1" in written
    if slack.service.db.backend == "sqlite":
        assert "<redacted>" in written  # aiosqlite's DEBUG lines name each statement's parameters
    assert token not in written and secret not in written


def test_settings_for_the_oauth_flow(tmp_path: Path) -> None:
    questions = tmp_path / "q"
    questions.mkdir()
    base = {"SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "shh-client-secret",
            "STUDYBOT_QUESTIONS": str(questions)}
    ok = Settings.load({**base, "SLACK_SIGNING_SECRET": "sig"}, file=None)
    assert ok.slack_oauth and ok.platforms() == ["slack"] and ok.problems(["slack"]) == []
    assert ok.redacted()["SLACK_CLIENT_SECRET"] == "<set, redacted>" and ok.redacted()["SLACK_CLIENT_ID"] == "1111.2222"
    assert "shh-client-secret" not in ok.redact("secret is shh-client-secret")
    assert Settings.load(base, file=None).problems(["slack"]) == [
        "Slack's OAuth install flow needs SLACK_SIGNING_SECRET (it runs in HTTP mode)"]
    socket = Settings.load({**base, "SLACK_SIGNING_SECRET": "sig", "STUDYBOT_SLACK_MODE": "socket"}, file=None)
    assert socket.problems(["slack"]) == [
        "Slack's OAuth install flow runs in HTTP mode: set STUDYBOT_SLACK_MODE=http or leave it unset"]
    half = Settings.load({"SLACK_CLIENT_ID": "1111.2222", "SLACK_SIGNING_SECRET": "sig",
                          "STUDYBOT_QUESTIONS": str(questions)}, file=None)
    assert half.problems(["slack"]) == [
        "Slack's OAuth install flow needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"]
    # an app-level token left set does not turn the OAuth flow into Socket Mode
    from adapters.slack.replies import slack_mode
    assert slack_mode(Settings.load({**base, "SLACK_APP_TOKEN": "xapp-1"}, file=None)) == "http"
    single = Settings.load({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
                            "STUDYBOT_QUESTIONS": str(questions)}, file=None)
    assert not single.slack_oauth and single.problems(["slack"]) == [] and slack_mode(single) == "socket"


def test_the_install_flow_asks_for_the_manifest_scopes() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8"))
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert "#   - https://YOUR-HOST/slack/oauth_redirect" in (ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8")
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_home_opened", "app_uninstalled", "tokens_revoked"} <= set(events)
