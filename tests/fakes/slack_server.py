"""A local Slack for tests: the Web API methods studybot calls, response_url endpoints and a Socket Mode
websocket, on 127.0.0.1 with an OS-chosen port. It records every call (with the token it used) so tests can
assert on what the real slack-bolt / slack-sdk sent, and it can answer `not_in_channel`, other errors or
HTTP 429 on demand.

Many workspaces: `grant(team, user)` is what slack.com does when a member approves the install (a one-time
code for the app's redirect URL); `oauth.v2.access` trades it, with the app's client id and secret, for a bot
token of that workspace. Each token belongs to one team, and calls are answered as that team;
`revoke(team)` makes its tokens invalid (an uninstall).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

BOT_USER = "UBOT"
APP_ID = "A0STUDYBOT"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret-abcdef"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)
    team: str | None = None  # the workspace the token belongs to (None: no valid token)
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.result.get("ok"))


@dataclass
class SlackLimits:
    """Slack's published limits for chat.postMessage, enforced when given: one message per second per
    channel, and a budget per second per workspace (Slack asks apps to stay within a few hundred a minute).
    Over budget: HTTP 429, error `ratelimited` and a whole-second Retry-After, as Slack answers."""

    per_channel_per_second: int = 1
    per_team_per_second: int = 10
    grace: float = 0.05  # requests already on the wire when a 429 was sent are not held against the app


class _SlackLimiter:
    def __init__(self, limits: SlackLimits) -> None:
        self.limits = limits
        self.windows: dict[str, tuple[int, int]] = {}  # scope -> (second, used)
        self.blocked: dict[str, tuple[float, float]] = {}  # scope -> (429 sent at, retry allowed at)
        self.sent_429 = 0
        self.dishonoured: list[str] = []

    def check(self, team: str, channel: str, now: float) -> int:
        """0 lets the post through; else the whole seconds to wait (Slack's Retry-After)."""
        scopes = ((f"team:{team}", self.limits.per_team_per_second),
                  (f"channel:{channel}", self.limits.per_channel_per_second))
        for scope, _ in scopes:
            sent, until = self.blocked.get(scope, (0.0, 0.0))
            if sent + self.limits.grace < now < until:
                self.dishonoured.append(f"chat.postMessage {until - now:.3f}s early ({scope})")
        second = int(now)
        for scope, budget in scopes:
            window, used = self.windows.get(scope, (second, 0))
            if window != second:
                window, used = second, 0
            if used >= budget:
                self.sent_429 += 1
                self.blocked[scope] = (now, second + 1.0)
                return 1
            self.windows[scope] = (window, used)
        for scope, _ in scopes:
            window, used = self.windows[scope]
            self.windows[scope] = (window, used + 1)
        return 0


class FakeSlack:
    def __init__(self, *, token: str = "xoxb-test", app_token: str = "xapp-test", team: str = "T1",
                 limits: SlackLimits | None = None) -> None:
        self.limiter = _SlackLimiter(limits) if limits else None
        self.token = token
        self.app_token = app_token
        self.team = team
        self.tokens: dict[str, str] = {token: team}  # valid bot token -> its team
        self.bot_users: dict[str, str] = {team: BOT_USER}  # team -> the bot's user id there
        self.codes: dict[str, tuple[str, str]] = {}  # one-time OAuth code -> (team, installing user)
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (response_url key, body)
        self.users: dict[str, dict[str, Any]] = {}
        self.not_in_channel: set[str] = set()
        self.rate_limit: dict[str, int] = {}  # method -> how many 429s to answer first
        self.errors: dict[str, list[str]] = {}  # method -> errors to answer next, in order
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> latest content
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes POSTed to its upload URL
        self.shared: dict[str, dict[str, Any]] = {}  # file id -> where completeUploadExternal shared it
        self.acks: dict[str, dict[str, Any]] = {}  # Socket Mode envelope id -> the client's ack
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_connections = 0
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, key: str | None = None) -> str:
        return f"{self.base}/response/{key or uuid.uuid4().hex[:12]}"

    # ----------------------------------------------------------------- queries
    def to(self, method: str, *, ok_only: bool = True) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def attempts(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def made(self, method: str, *, team: str | None = None, ok_only: bool = True) -> list[Call]:
        """The calls to `method` (with their tokens), only those made as workspace `team` if given."""
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)
                and (team is None or c.team == team)]

    # ----------------------------------------------------------------- many workspaces
    def grant(self, team: str, user: str = "UINSTALLER") -> str:
        """A member of `team` approved the install on slack.com: the code Slack sends to the redirect URL."""
        code = f"code-{team}-{uuid.uuid4().hex[:10]}"
        self.codes[code] = (team, user)
        self.bot_users.setdefault(team, f"UBOT{team}")
        return code

    def tokens_of(self, team: str) -> set[str]:
        return {token for token, owner in self.tokens.items() if owner == team}

    def revoke(self, team: str) -> None:
        """The workspace uninstalled the app: its tokens stop working."""
        for token in self.tokens_of(team):
            del self.tokens[token]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], T], seconds: float = 5.0) -> T:
        """Wait until `predicate()` is truthy (re-checked after every request) and return its value;
        TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds), self._changed:
            return await self._changed.wait_for(predicate)

    async def wait_calls(self, method: str, n: int = 1, where: Callable[[dict[str, Any]], bool] | None = None,
                         seconds: float = 5.0) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]] | None:
            hits = [a for a in self.to(method) if where is None or where(a)]
            return hits if len(hits) >= n else None

        return await self.wait_for(found, seconds)

    # ----------------------------------------------------------------- Web API
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        authorization = request.headers.get("Authorization", "")
        basic = authorization.startswith("Basic ")
        token = "" if basic else authorization.removeprefix("Bearer ").strip() or str(args.get("token", ""))
        if basic:  # oauth.v2.access: the app's client id and secret
            with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                client_id, client_secret = base64.b64decode(authorization[6:]).decode().split(":", 1)
                args.setdefault("client_id", client_id)
                args.setdefault("client_secret", client_secret)
        team = self.tokens.get(token)
        if self.rate_limit.get(method, 0) > 0:
            self.rate_limit[method] -= 1
            self.calls.append(Call(method, args, token, 429, {"ok": False, "error": "ratelimited"}, team=team))
            await self._notify()
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"})
        if self.limiter and method == "chat.postMessage" and team:
            wait = self.limiter.check(team, str(args.get("channel", "")), time.monotonic())
            if wait:
                self.calls.append(Call(method, args, token, 429, {"ok": False, "error": "ratelimited"}, team=team))
                await self._notify()
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": str(wait)})
        queued = self.errors.get(method)
        if queued:
            result: dict[str, Any] = {"ok": False, "error": queued.pop(0)}
        else:
            result = self._answer(method, args, token)
        self.calls.append(Call(method, args, token, 200, result, team=team))
        await self._notify()
        return web.json_response(result)

    def _answer(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token != self.app_token:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method == "oauth.v2.access":
            return self._oauth_access(args)
        team = self.tokens.get(token)
        if team is None:
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": f"Fake team {team}", "user": "studybot",
                    "team_id": team, "user_id": self.bot_users.get(team, BOT_USER), "bot_id": f"B{team}STUDYBOT",
                    "is_enterprise_install": False}
        channel = str(args.get("channel", ""))
        if method == "chat.postMessage":
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = f"{1700000000 + next(self._ts)}.000100"
            self.messages[(channel, ts)] = {"text": args.get("text"), "blocks": args.get("blocks")}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text"), "ts": ts}}
        if method == "chat.postEphemeral":
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "chat.update":
            key = (channel, str(args.get("ts", "")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key] = {"text": args.get("text"), "blocks": args.get("blocks")}
            return {"ok": True, "channel": channel, "ts": key[1], "text": args.get("text")}
        if method == "views.open":
            if not args.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            return {"ok": True, "view": {**args.get("view", {}), "id": f"V{next(self._ts)}"}}
        if method == "views.publish":
            if not args.get("user_id"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "view": {**args.get("view", {}), "id": f"V{next(self._ts)}"}}
        if method == "users.info":
            user = str(args.get("user", ""))
            info = {"id": user, "team_id": team, "name": user.lower(), "real_name": user,
                    "profile": {"display_name": f"{user.lower()}", "real_name": user},
                    "is_admin": False, "is_owner": False, "is_primary_owner": False}
            info.update(self.users.get(user, {}))
            return {"ok": True, "user": info}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            if not all(f.get("id") in self.uploads for f in files):
                return {"ok": False, "error": "file_not_found"}
            for f in files:
                self.shared[f["id"]] = {"channel": args.get("channel_id"), "title": f.get("title")}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "conversations.open":
            users = str(args.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",", maxsplit=1)[0]}}
        return {"ok": False, "error": "unknown_method"}

    def _oauth_access(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("client_id") != self.client_id or args.get("client_secret") != self.client_secret:
            return {"ok": False, "error": "invalid_client_id"}
        granted = self.codes.pop(str(args.get("code", "")), None)  # a code works once
        if granted is None:
            return {"ok": False, "error": "invalid_code"}
        team, user = granted
        token = f"xoxb-{team}-{uuid.uuid4().hex[:16]}"
        self.tokens[token] = team
        return {"ok": True, "app_id": APP_ID, "authed_user": {"id": user}, "token_type": "bot",
                "scope": "commands,chat:write,chat:write.public,im:write,users:read,files:write",
                "access_token": token, "bot_user_id": self.bot_users[team],
                "team": {"id": team, "name": f"Fake team {team}"}, "enterprise": None, "is_enterprise_install": False}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal hands out: the file's bytes, as a body or a form."""
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = next(iter(form.values()))
            data = part.file.read() if hasattr(part, "file") else str(part).encode()
        else:
            data = await request.read()
        self.uploads[request.match_info["file_id"]] = data
        await self._notify()
        return web.Response(text="OK - uploaded")

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["key"], await request.json()))
        await self._notify()
        return web.Response(text="ok")

    # ----------------------------------------------------------------- Socket Mode
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.socket_connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": APP_ID}})
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = data
                        await self._notify()
        finally:
            with contextlib.suppress(ValueError):
                self.sockets.remove(ws)
            await self._notify()
        return ws

    async def wait_connected(self, seconds: float = 5.0) -> None:
        await self.wait_for(lambda: bool(self.sockets), seconds)

    async def send_envelope(self, kind: str, payload: dict[str, Any], seconds: float = 5.0) -> dict[str, Any]:
        """Deliver one Socket Mode envelope and return the client's ack (envelope_id and optional payload)."""
        await self.wait_connected(seconds)
        envelope_id = uuid.uuid4().hex
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                          "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                          "retry_reason": ""})
        return await self.wait_for(lambda: self.acks.get(envelope_id), seconds)
