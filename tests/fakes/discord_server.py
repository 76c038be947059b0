"""A local Discord for tests: the REST endpoints discord.py calls and a gateway websocket, on 127.0.0.1
with an OS-chosen port, so the real discord.py runs unmodified against it.

- REST (`api_base`): login (`/users/@me`, `/oauth2/applications/@me`), command sync, interaction callbacks,
  webhook follow-ups and edits, channel messages. Bodies are checked against Discord's documented limits
  (embed and component sizes, custom ids, choices, modal fields, `allowed_mentions`); a violation gets the
  400 Discord would send and is kept in `errors`, so a test can assert there were none.
- Gateway (`gateway_url`): HELLO, heartbeat ACK, IDENTIFY -> READY + GUILD_CREATE, RESUME -> RESUMED, and
  `dispatch()` for INTERACTION_CREATE. Text frames only (discord.py inflates only binary ones).
- Shards: several gateway connections, each IDENTIFYing with `shard: [id, count]` (none: `[0, 1]`, every
  guild). A guild's GUILD_CREATE and interactions go to the connection owning it, `(guild_id >> 22) % count`.
  `GET /gateway/bot` returns `recommended_shards` and `max_concurrency`; every IDENTIFY is kept in
  `identifies`; with `identify_window` (Discord: 5 s; off by default, so restart tests stay quick) one in a
  bucket (`shard % max_concurrency`) sooner than that after the last is refused with op 9 and kept in
  `errors`, as Discord does. `add_guild()` places a guild on a shard.
- Which process did what: every REST request and gateway connection records its client's TCP port (`peer`),
  so a test can map them to processes.
- Payload factories (`member`, `slash`, `autocomplete`, `click`, `submit_modal`) build interactions with
  every field discord.py reads (`version`, `application_id`, `attachment_size_limit`, member `flags`,
  channel `position`...): a bad payload raised in discord.py's gateway parser would end the client.
- Discord's own rules that matter to a bot: an interaction answers once, within 3 s (`response_deadline`);
  responses are `Content-Type: application/json` exactly (discord.py parses nothing else).
- `fail_next()` makes the next matching requests fail with a status (e.g. 503), optionally after doing the
  work (a lost response), to test retries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

DISCORD_EPOCH = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
TOKEN = "fake-bot-token"
ALL_PERMISSIONS = (1 << 53) - 1
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
# View channel, send messages, embed links, attach files, read history, use application commands...
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31) | (1 << 6)
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


@dataclass
class Interaction:
    """One interaction sent to the bot and everything the bot did with it."""

    id: int
    token: str
    payload: dict[str, Any]
    sent_at: float = 0.0
    shard: int | None = None  # the shard of the gateway connection it was dispatched on
    delivered_peer: int | None = None  # that connection's client TCP port
    answered_peer: int | None = None  # the client TCP port of the first response
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    answered_at: float | None = None  # when the first response arrived (perf_counter)
    replied_at: float | None = None  # when the message that is the reply arrived (response or follow-up)
    original: dict[str, Any] | None = None  # the message the response created
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def response(self) -> dict[str, Any] | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def modal(self) -> dict[str, Any] | None:
        r = self.response
        return r["data"] if r and r["type"] == 9 else None

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Every message the bot sent for this interaction: its response, then follow-ups."""
        out = [self.original] if self.original and not self.original["flags"] & LOADING else []
        return out + self.followups

    @property
    def reply(self) -> dict[str, Any] | None:
        replies = self.replies
        return replies[-1] if replies else None


@dataclass
class Request:
    method: str
    path: str
    body: Any
    at: float
    status: int = 0
    peer: int | None = None  # the client's TCP port


@dataclass
class Identify:
    shard: int
    count: int
    at: float  # time.monotonic()
    peer: int | None
    accepted: bool


@dataclass
class RateLimits:
    """Discord's published limits, enforced when given: a global budget per second for the bot, and per
    route bucket `POST /channels/{id}/messages` a budget per channel per window (5 per 5 s on Discord).
    Windows are fixed; a request over budget gets 429 with `retry_after`, as Discord answers."""

    global_per_second: int = 50
    channel_messages: int = 5
    channel_window: float = 5.0
    grace: float = 0.05  # requests already on the wire when a 429 was sent are not held against the bot


@dataclass
class _Window:
    start: float = 0.0
    used: int = 0


class _Limiter:
    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.global_window = _Window()
        self.channels: dict[int, _Window] = {}
        self.blocked: dict[str, tuple[float, float]] = {}  # scope -> (429 sent at, retry allowed at)
        self.sent_429 = 0
        self.dishonoured: list[str] = []  # requests that came inside a 429's retry_after

    def _take(self, window: _Window, budget: int, length: float, now: float) -> float:
        """0 when the request fits its window, else the seconds until the window resets."""
        if now - window.start >= length:
            window.start, window.used = now, 0
        if window.used >= budget:
            return window.start + length - now
        window.used += 1
        return 0.0

    def check(self, method: str, path: str, now: float) -> tuple[float, str, dict[str, str]]:
        """(retry_after, scope, headers): retry_after 0 lets the request through."""
        channel = re.fullmatch(r"/api/v10/channels/(\d+)/messages", path) if method == "POST" else None
        scopes = ["global"] + ([f"channel:{channel.group(1)}"] if channel else [])
        for scope in scopes:
            sent, until = self.blocked.get(scope, (0.0, 0.0))
            if sent + self.limits.grace < now < until:
                self.dishonoured.append(f"{method} {path} {until - now:.3f}s early ({scope})")
        wait = self._take(self.global_window, self.limits.global_per_second, 1.0, now)
        if wait:
            return self._blocked("global", wait, now), "global", {"X-RateLimit-Global": "true",
                                                                   "X-RateLimit-Scope": "global"}
        headers: dict[str, str] = {}
        if channel:
            window = self.channels.setdefault(int(channel.group(1)), _Window())
            wait = self._take(window, self.limits.channel_messages, self.limits.channel_window, now)
            if wait:
                return self._blocked(scopes[1], wait, now), scopes[1], {"X-RateLimit-Scope": "user"}
            reset_after = window.start + self.limits.channel_window - now
            headers = {"X-RateLimit-Limit": str(self.limits.channel_messages),
                       "X-RateLimit-Remaining": str(self.limits.channel_messages - window.used),
                       "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                       "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                       "X-RateLimit-Bucket": "channel-messages"}  # one hash; the channel is the major parameter
        return 0.0, "", headers

    def _blocked(self, scope: str, wait: float, now: float) -> float:
        self.sent_429 += 1
        self.blocked[scope] = (now, now + wait)
        return wait


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    after_effect: bool


class _Session:
    def __init__(self, ws: web.WebSocketResponse, peer: int | None = None) -> None:
        self.ws = ws
        self.seq = 0
        self.id = secrets.token_hex(16)
        self.lock = asyncio.Lock()
        self.shard = (0, 1)  # (id, count) from IDENTIFY
        self.peer = peer

    def owns(self, guild_id: int) -> bool:
        shard, count = self.shard
        return (guild_id >> 22) % count == shard

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        async with self.lock:
            self.seq += 1
            await self.ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}))


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly `application/json`: aiohttp's json_response adds "; charset=utf-8" and discord.py would not
    # parse the body.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _error(status: int, code: int, message: str, errors: Iterable[str] = ()) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    found = list(errors)
    if found:
        body["errors"] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in found]}
    return _json(body, status)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _peer(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return int(peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else None


class FakeDiscord:
    def __init__(self, *, response_deadline: float | None = 3.0, token: str = TOKEN, recommended_shards: int = 1,
                 max_concurrency: int = 1, identify_window: float | None = None,
                 rate_limits: RateLimits | None = None) -> None:
        self.token = token
        self.limiter = _Limiter(rate_limits) if rate_limits else None
        self.recommended_shards = recommended_shards
        self.max_concurrency = max_concurrency
        self.identify_window = identify_window
        self.identifies: list[Identify] = []
        self.response_deadline = response_deadline
        self._counter = itertools.count()
        self.app_id = self.snowflake()
        self.bot_id = self.app_id
        self.owner_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.guild_name = "Study Group"
        self.guilds: dict[int, str] = {self.guild_id: self.guild_name}  # id -> name
        self.channel_id = self.snowflake()
        self.other_channel_id = self.snowflake()
        self.channels: dict[int, dict[str, Any]] = {
            cid: {"id": str(cid), "type": 0, "name": name, "guild_id": str(self.guild_id), "position": pos,
                  "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                  "last_message_id": None, "rate_limit_per_user": 0}
            for pos, (cid, name) in enumerate(((self.channel_id, "general"), (self.other_channel_id, "study")))
        }
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[str, list[dict[str, Any]]]] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.files: dict[str, bytes] = {}  # attachment id -> the bytes uploaded
        self.edits: list[tuple[int, int, dict[str, Any], float]] = []  # channel, message, body, time
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self.unhandled: list[str] = []
        self.mention_policies: list[tuple[str, Any]] = []  # (what, allowed_mentions) of every message sent
        self.interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self.identify: dict[str, Any] | None = None
        self.sessions: list[_Session] = []
        self._shard_of_session: dict[str, tuple[int, int]] = {}  # session id -> shard, for RESUME
        self._failures: list[_Failure] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024 * 1024)
        r = app.router
        r.add_get("/gateway", self._gateway)
        r.add_get("/api/v10/gateway/bot", self._gateway_bot)
        r.add_get("/api/v10/users/@me", self._me)
        r.add_get("/api/v10/oauth2/applications/@me", self._app_info)
        r.add_route("*", "/api/v10/applications/{app}/commands", self._commands)
        r.add_route("*", "/api/v10/applications/{app}/guilds/{guild}/commands", self._commands)
        r.add_post("/api/v10/interactions/{id}/{token}/callback", self._callback)
        r.add_post("/api/v10/webhooks/{app}/{token}", self._followup)
        r.add_route("*", "/api/v10/webhooks/{app}/{token}/messages/{message}", self._webhook_message)
        r.add_get("/api/v10/channels/{channel}", self._get_channel)
        r.add_post("/api/v10/channels/{channel}/messages", self._create_message)
        r.add_route("*", "/api/v10/channels/{channel}/messages/{message}", self._channel_message)
        r.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH
        return (ms << 22) | (next(self._counter) % (1 << 22))

    def add_guild(self, name: str, *, shard: int = 0, count: int = 1) -> tuple[int, int]:
        """A new guild with one text channel, on shard `shard` of `count`: (guild id, channel id)."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH
        ms -= (ms - shard) % count
        guild_id = (ms << 22) | (next(self._counter) % (1 << 22))
        assert (guild_id >> 22) % count == shard
        self.guilds[guild_id] = name
        channel_id = self.snowflake()
        self.channels[channel_id] = {**self.channels[self.channel_id], "id": str(channel_id), "name": "general",
                                     "guild_id": str(guild_id), "position": 0}
        return guild_id, channel_id

    def guild_of(self, channel_id: int) -> int:
        return int(self.channels[channel_id]["guild_id"])

    # ----------------------------------------------------------------- waiting
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], T], within: float = 5.0) -> T:
        """Wait until `predicate()` is truthy (re-checked after every request and gateway message)."""
        async with self._changed:
            return await asyncio.wait_for(self._changed.wait_for(predicate), within)

    async def answer(self, interaction: Interaction, within: float = 5.0) -> dict[str, Any]:
        """The bot's first response (callback body: type and data)."""
        await self.wait_until(lambda: interaction.response is not None, within)
        assert interaction.response is not None
        return interaction.response

    async def reply(self, interaction: Interaction, within: float = 5.0) -> dict[str, Any]:
        """The message the bot finally showed for this interaction (its response or first follow-up)."""
        await self.wait_until(lambda: interaction.reply is not None, within)
        assert interaction.reply is not None
        return interaction.reply

    # ----------------------------------------------------------------- payload factories
    def user(self, user_id: int, name: str) -> dict[str, Any]:
        return {"id": str(user_id), "username": name.lower().replace(" ", "_")[:32] or "user", "discriminator": "0",
                "global_name": name, "avatar": None, "public_flags": 0, "bot": False}

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": str(self.bot_id), "username": "studybot", "discriminator": "0", "global_name": None,
                "avatar": None, "bot": True, "flags": 0, "public_flags": 0, "verified": True, "mfa_enabled": False}

    def member(self, name: str = "alice", *, user_id: int | None = None, admin: bool = False,
               permissions: int | None = None) -> dict[str, Any]:
        """A guild member as interactions carry it: `permissions` is the member's total in the channel."""
        uid = user_id if user_id is not None else self.snowflake()
        perms = permissions if permissions is not None else (ALL_PERMISSIONS if admin else MEMBER_PERMISSIONS)
        return {"user": self.user(uid, name), "roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False,
                "flags": 0, "pending": False, "nick": None, "avatar": None, "premium_since": None,
                "communication_disabled_until": None, "permissions": str(perms)}

    def guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        gid = self.guild_id if guild_id is None else guild_id
        return {
            "id": str(gid), "name": self.guilds[gid], "icon": None, "owner_id": str(self.owner_id),
            "unavailable": False, "member_count": 3, "large": False, "features": [], "emojis": [], "stickers": [],
            "roles": [{"id": str(gid), "name": "@everyone", "permissions": str(MEMBER_PERMISSIONS),
                       "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "channels": [c for c in self.channels.values() if c["guild_id"] == str(gid)],
            "members": [{"user": self.bot_user, "roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False,
                         "flags": 0}],
            "presences": [], "voice_states": [], "threads": [], "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [], "preferred_locale": "en-US", "verification_level": 0, "mfa_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "premium_tier": 0,
            "system_channel_flags": 0, "nsfw_level": 0, "afk_timeout": 300,
        }

    def _interaction(self, kind: int, data: dict[str, Any], member: dict[str, Any] | None,
                     channel_id: int | None, message: dict[str, Any] | None = None) -> Interaction:
        iid = self.snowflake()
        token = "itoken-" + secrets.token_urlsafe(24)
        cid = channel_id or self.channel_id
        gid = self.guild_of(cid)
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.app_id), "type": kind, "data": data,
            "guild_id": str(gid), "guild": {"id": str(gid), "locale": "en-US", "features": []},
            "channel_id": str(cid), "channel": self.channels[cid], "member": member or self.member(),
            "token": token, "version": 1, "app_permissions": str(ALL_PERMISSIONS), "locale": "en-US",
            "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {"0": str(gid)},
            "context": 0, "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        record = Interaction(iid, token, payload)
        self.interactions[iid] = record
        self._by_token[token] = record
        return record

    def command(self, name: str) -> dict[str, Any]:
        for cmd in [*self.guild_commands.get(self.guild_id, []), *self.global_commands]:
            if cmd["name"] == name:
                return cmd
        raise KeyError(f"command /{name} was not synced")

    def _options(self, schema: list[dict[str, Any]], values: dict[str, Any], resolved: dict[str, Any],
                 focused: str | None) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in schema}
        out = []
        for name, value in values.items():
            if name not in by_name:
                raise KeyError(f"option {name!r} is not in the synced schema: {sorted(by_name)}")
            kind = by_name[name]["type"]
            option: dict[str, Any] = {"name": name, "type": kind}
            if kind == 6:  # user: value is a member payload
                uid = value["user"]["id"]
                resolved.setdefault("users", {})[uid] = value["user"]
                resolved.setdefault("members", {})[uid] = {k: v for k, v in value.items() if k != "user"}
                option["value"] = uid
            elif kind == 7:  # channel: value is a channel id
                channel = self.channels[int(value)]
                resolved.setdefault("channels", {})[str(value)] = {
                    "id": channel["id"], "name": channel["name"], "type": channel["type"],
                    "permissions": str(ALL_PERMISSIONS), "parent_id": None, "guild_id": channel["guild_id"]}
                option["value"] = str(value)
            else:
                option["value"] = value
            if name == focused:
                option["focused"] = True
            out.append(option)
        return out

    def _command_data(self, name: str, options: dict[str, Any], subcommand: str | None,
                      focused: str | None) -> dict[str, Any]:
        cmd = self.command(name)
        resolved: dict[str, Any] = {}
        schema = cmd.get("options", [])
        if subcommand is not None and " " in subcommand:  # "group sub": a subcommand inside a subcommand group
            group_name, sub_name = subcommand.split(" ", 1)
            group = next(o for o in schema if o["name"] == group_name and o["type"] == 2)
            sub = next(o for o in group.get("options", []) if o["name"] == sub_name)
            opts = [{"name": group_name, "type": 2, "options": [
                {"name": sub_name, "type": 1,
                 "options": self._options(sub.get("options", []), options, resolved, focused)}]}]
        elif subcommand is not None:
            sub = next(o for o in schema if o["name"] == subcommand)
            opts = [{"name": subcommand, "type": 1,
                     "options": self._options(sub.get("options", []), options, resolved, focused)}]
        else:
            opts = self._options(schema, options, resolved, focused)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def slash(self, name: str, options: dict[str, Any] | None = None, *, subcommand: str | None = None,
                    member: dict[str, Any] | None = None, channel_id: int | None = None) -> Interaction:
        """Run /name [subcommand] with option values (a member payload for user options, an id for
        channel options)."""
        data = self._command_data(name, options or {}, subcommand, None)
        record = self._interaction(2, data, member, channel_id)
        await self.send_interaction(record)
        return record

    async def autocomplete(self, name: str, focused: str, options: dict[str, Any], *, subcommand: str | None = None,
                           member: dict[str, Any] | None = None) -> Interaction:
        data = self._command_data(name, options, subcommand, focused)
        record = self._interaction(4, data, member, None)
        await self.send_interaction(record)
        return record

    def click_payload(self, message: dict[str, Any], custom_id: str, *, member: dict[str, Any] | None = None,
                      channel_id: int | None = None) -> Interaction:
        return self._interaction(3, {"custom_id": custom_id, "component_type": 2}, member,
                                 channel_id or int(message["channel_id"]), message)

    async def click(self, message: dict[str, Any], custom_id: str, *, member: dict[str, Any] | None = None,
                    channel_id: int | None = None) -> Interaction:
        """Press the button `custom_id` on `message` (any custom id: the fake does not check it is there)."""
        record = self.click_payload(message, custom_id, member=member, channel_id=channel_id)
        await self.send_interaction(record)
        return record

    async def submit_modal(self, opened: Interaction, values: dict[str, str], *,
                           member: dict[str, Any] | None = None) -> Interaction:
        """Submit the modal the bot opened in answer to `opened`, filling text inputs by custom id."""
        modal = opened.modal
        assert modal is not None, "the bot did not answer with a modal"
        counter = itertools.count(1)

        def submitted(component: dict[str, Any]) -> dict[str, Any]:
            kind = component["type"]
            if kind == 1:
                return {"type": 1, "id": next(counter), "components": [submitted(c) for c in component["components"]]}
            if kind == 18:
                return {"type": 18, "id": next(counter), "component": submitted(component["component"])}
            if kind == 4:
                return {"type": 4, "id": next(counter), "custom_id": component["custom_id"],
                        "value": values.get(component["custom_id"], "")}
            return {"type": kind, "id": next(counter)}

        data = {"custom_id": modal["custom_id"], "components": [submitted(c) for c in modal["components"]]}
        source = opened.payload.get("message")
        record = self._interaction(5, data, member or opened.payload["member"], int(opened.payload["channel_id"]),
                                   source)
        await self.send_interaction(record)
        return record

    async def send_interaction(self, record: Interaction) -> None:
        session = self.session_for(int(record.payload["guild_id"]))
        record.sent_at = time.perf_counter()
        record.shard, record.delivered_peer = session.shard[0], session.peer
        await session.dispatch("INTERACTION_CREATE", record.payload)

    @property
    def session(self) -> _Session:
        if not self.sessions:
            raise RuntimeError("no bot is connected to the gateway")
        return self.sessions[-1]

    def session_for(self, guild_id: int) -> _Session:
        """The newest gateway connection whose shard owns the guild (Discord sends its events there only)."""
        for session in reversed(self.sessions):
            if session.owns(guild_id):
                return session
        raise RuntimeError(f"no connected shard owns guild {guild_id}")

    # ----------------------------------------------------------------- failures
    def fail_next(self, method: str, path: str, status: int = 503, *, times: int = 1,
                  after_effect: bool = False) -> None:
        """The next `times` requests `method path` (a regex on the path after /api/v10) get `status`; with
        `after_effect` the request is carried out first and only its response is lost."""
        self._failures.append(_Failure(method.upper(), re.compile(path), status, times, after_effect))

    def _failure(self, request: web.Request) -> _Failure | None:
        path = request.path.removeprefix("/api/v10")
        for f in self._failures:
            if f.times > 0 and f.method == request.method and f.pattern.fullmatch(path):
                f.times -= 1
                return f
        return None

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path == "/gateway":
            response: web.StreamResponse = await handler(request)
            return response
        entry = Request(request.method, request.path, None, time.perf_counter(), peer=_peer(request))
        self.requests.append(entry)
        try:
            failure = self._failure(request)
            if failure is not None and not failure.after_effect:
                response = _error(failure.status, 0, f"{failure.status}: injected failure")
            else:
                needs_auth = not request.path.startswith(("/api/v10/interactions/", "/api/v10/webhooks/"))
                limited = self.limiter.check(request.method, request.path, time.monotonic()) \
                    if self.limiter and needs_auth else (0.0, "", {})
                if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                    response = _error(401, 0, "401: Unauthorized")
                elif limited[0]:
                    retry_after, scope, headers = limited
                    response = web.json_response(
                        {"message": "You are being rate limited.", "retry_after": round(retry_after, 3),
                         "global": scope == "global"}, status=429,
                        # Via: Discord answers through its proxy; discord.py takes a 429 without it for a ban.
                        headers={"Retry-After": f"{retry_after:.3f}", "Via": "1.1 google", **headers})
                else:
                    response = await handler(request)
                    response.headers.update(limited[2])
                if failure is not None:
                    response = _error(failure.status, 0, f"{failure.status}: injected failure after the effect")
            entry.status = response.status
            return response
        finally:
            await self._notify()

    # ----------------------------------------------------------------- gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = _Session(ws, _peer(request))
        await session.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await session.send({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if not await self._identified(session, frame["d"]):
                        continue
                    owned = [g for g in self.guilds if session.owns(g)]
                    ready: dict[str, Any] = {
                        "v": 10, "user": self.bot_user, "guilds": [{"id": str(g), "unavailable": True} for g in owned],
                        "session_id": session.id, "resume_gateway_url": self.gateway_url,
                        "application": {"id": str(self.app_id), "flags": 0}, "private_channels": [],
                        "relationships": [], "user_settings": {}}
                    if "shard" in frame["d"]:
                        ready["shard"] = list(session.shard)
                    await session.dispatch("READY", ready)
                    for g in owned:
                        await session.dispatch("GUILD_CREATE", self.guild_payload(g))
                elif op == 6:
                    resumed = (frame.get("d") or {}).get("session_id")
                    session.shard = self._shard_of_session.get(resumed, session.shard)
                    self.sessions.append(session)
                    await session.dispatch("RESUMED", {})
                await self._notify()
        finally:
            if session in self.sessions:
                self.sessions.remove(session)
            await self._notify()
        return ws

    async def _identified(self, session: _Session, data: dict[str, Any]) -> bool:
        """Record an IDENTIFY; False (and op 9, Invalid Session) when its bucket identified too recently."""
        self.identify = data
        shard, count = data.get("shard") or (0, 1)
        now = time.monotonic()
        bucket = shard % self.max_concurrency
        last = next((i for i in reversed(self.identifies) if i.accepted and i.shard % self.max_concurrency == bucket),
                    None)
        accepted = last is None or self.identify_window is None or now - last.at >= self.identify_window
        self.identifies.append(Identify(shard, count, now, session.peer, accepted))
        if not accepted:
            assert last is not None
            self.errors.append(f"IDENTIFY of shard {shard} {now - last.at:.2f} s after shard {last.shard} "
                               f"in bucket {bucket} (max_concurrency {self.max_concurrency})")
            await session.send({"op": 9, "d": False, "s": None, "t": None})
            return False
        if not 0 <= shard < count:
            self.errors.append(f"IDENTIFY with shard {[shard, count]}")
        session.shard = (shard, count)
        self._shard_of_session[session.id] = session.shard
        self.sessions.append(session)
        return True

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url, "shards": self.recommended_shards,
                      "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 86_400_000,
                                              "max_concurrency": self.max_concurrency}})

    # ----------------------------------------------------------------- login
    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.bot_user)

    async def _app_info(self, request: web.Request) -> web.Response:
        return _json({"id": str(self.app_id), "name": "studybot", "icon": None, "description": "",
                      "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
                      "owner": self.user(self.owner_id, "owner"), "team": None, "flags": 0, "summary": "",
                      "rpc_origins": [], "interactions_endpoint_url": None})

    # ----------------------------------------------------------------- commands
    async def _commands(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        if request.method == "GET":
            return _json(self.guild_commands.get(int(guild), []) if guild else self.global_commands)
        if request.method != "PUT":
            return _error(405, 0, "405: Method Not Allowed")
        body = await request.json()
        problems = [p for cmd in body for p in _check_command(cmd)]
        names = [cmd["name"] for cmd in body]
        if len(set(names)) != len(names):
            problems.append("application command names must be unique")
        if problems:
            return self._invalid("command sync", problems)
        stored = []
        for cmd in body:
            saved = {**cmd, "id": str(self.snowflake()), "application_id": str(self.app_id), "version": "1"}
            if guild:
                saved["guild_id"] = guild
            stored.append(saved)
        if guild:
            self.guild_commands[int(guild)] = stored
        else:
            self.global_commands = stored
        self.command_syncs.append((guild or "global", body))
        return _json(stored)

    def _invalid(self, what: str, problems: list[str]) -> web.Response:
        self.errors.extend(f"{what}: {p}" for p in problems)
        return _error(400, 50035, "Invalid Form Body", problems)

    # ----------------------------------------------------------------- messages
    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            payload = json.loads(str(form["payload_json"]))
            files = [(f.filename, f.file.read()) for name, f in form.items()
                     if name.startswith("files[") and hasattr(f, "file")]
            return payload, files
        if not request.can_read_body:
            return {}, []
        body = await request.json()
        return (body or {}), []

    def _message(self, channel_id: int, body: dict[str, Any], files: list[tuple[str, bytes]], *, flags: int = 0,
                 kind: int = 0, webhook: bool = False) -> dict[str, Any]:
        mid = self.snowflake()
        attachments = [{"id": str(self.snowflake()), "filename": name, "size": len(data),
                        "url": f"https://cdn.example/{mid}/{name}", "proxy_url": f"https://media.example/{mid}/{name}",
                        "content_type": "image/png" if name.endswith(".png") else "application/octet-stream"}
                       for name, data in files]
        for attachment, (_, data) in zip(attachments, files, strict=True):
            self.files[attachment["id"]] = data
        message: dict[str, Any] = {
            "id": str(mid), "channel_id": str(channel_id), "guild_id": self.channels.get(channel_id, {}).get(
                "guild_id", str(self.guild_id)), "type": kind,
            "content": body.get("content") or "", "author": self.bot_user, "embeds": body.get("embeds") or [],
            "components": body.get("components") or [], "attachments": attachments, "mentions": [],
            "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False, "timestamp": _now_iso(),
            "edited_timestamp": None, "flags": flags | (body.get("flags") or 0),
            "application_id": str(self.app_id),
        }
        if webhook:
            message["webhook_id"] = str(self.app_id)
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        self.messages[mid] = message
        if not message["flags"] & EPHEMERAL:
            self.channel_messages.setdefault(channel_id, []).append(mid)
        return message

    def _record_mentions(self, what: str, body: dict[str, Any]) -> None:
        self.mention_policies.append((what, body.get("allowed_mentions")))

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["channel"])
        if cid not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        body, files = await self._body(request)
        problems = _check_message(body, files, new=True)
        if problems:
            return self._invalid("channel message", problems)
        self._record_mentions("channel message", body)
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            for mid in self.channel_messages.get(cid, []):
                if self.messages[mid].get("nonce") == body["nonce"]:
                    return _json(self.messages[mid])
        return _json(self._message(cid, body, files))

    async def _get_channel(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["channel"])
        if cid not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        return _json(self.channels[cid])

    async def _channel_message(self, request: web.Request) -> web.Response:
        cid, mid = int(request.match_info["channel"]), int(request.match_info["message"])
        message = self.messages.get(mid)
        if message is None or int(message["channel_id"]) != cid or message["flags"] & EPHEMERAL:
            return _error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return _json(message)
        if request.method != "PATCH":
            return _error(405, 0, "405: Method Not Allowed")
        body, files = await self._body(request)
        return self._edit(message, body, files, "channel message edit")

    def _edit(self, message: dict[str, Any], body: dict[str, Any], files: list[tuple[str, bytes]],
              what: str) -> web.Response:
        problems = _check_message(body, files, new=False)
        if problems:
            return self._invalid(what, problems)
        self._record_mentions(what, body)
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        message["flags"] &= ~LOADING
        message["edited_timestamp"] = _now_iso()
        self.edits.append((int(message["channel_id"]), int(message["id"]), body, time.perf_counter()))
        return _json(message)

    # ----------------------------------------------------------------- interactions
    async def _callback(self, request: web.Request) -> web.Response:
        received = time.perf_counter()
        record = self.interactions.get(int(request.match_info["id"]))
        if record is None or record.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        body, files = await self._body(request)
        if self.response_deadline is not None and received - record.sent_at > self.response_deadline:
            self.errors.append(f"interaction {record.id} answered after {received - record.sent_at:.2f} s")
            return _error(404, 10062, "Unknown interaction")
        if record.callbacks:
            self.errors.append(f"interaction {record.id} answered twice")
            return _error(400, 40060, "Interaction has already been acknowledged.")
        kind = body.get("type")
        data = body.get("data") or {}
        problems = _check_callback(kind, data, files, record)
        if problems:
            return self._invalid(f"interaction callback type {kind}", problems)
        record.callbacks.append(body)
        record.answered_at = received
        record.answered_peer = _peer(request)
        channel_id = int(record.payload["channel_id"])
        message = None
        if kind == 4:
            self._record_mentions("interaction response", data)
            message = self._message(channel_id, data, files, kind=20 if record.payload["type"] == 2 else 0,
                                    webhook=True)
            record.original = message
            record.replied_at = received
        elif kind == 5:
            message = self._message(channel_id, {"flags": (data.get("flags") or 0) | LOADING}, [], webhook=True)
            record.original = message
        elif kind == 7:
            source = record.payload.get("message")
            stored = self.messages.get(int(source["id"])) if source else None
            if stored is not None:
                self._edit(stored, data, files, "update message")
                message = stored
        response: dict[str, Any] = {"interaction": {
            "id": str(record.id), "type": record.payload["type"],
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL)}}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            response["interaction"]["response_message_id"] = message["id"]
            resource["message"] = message
        response["resource"] = resource
        return _json(response)

    async def _followup(self, request: web.Request) -> web.Response:
        received = time.perf_counter()
        record = self._by_token.get(request.match_info["token"])
        if record is None or int(request.match_info["app"]) != self.app_id:
            return _error(404, 10015, "Unknown Webhook")
        if not record.callbacks:
            self.errors.append(f"follow-up to interaction {record.id} before any response")
            return _error(404, 10015, "Unknown Webhook")
        body, files = await self._body(request)
        problems = _check_message(body, files, new=True)
        if problems:
            return self._invalid("follow-up", problems)
        self._record_mentions("follow-up", body)
        flags = body.get("flags") or 0
        if record.original is not None and record.original["flags"] & LOADING:
            # The first follow-up after a deferred response replaces its "thinking..." message and keeps
            # the deferral's visibility.
            flags = record.original["flags"] & EPHEMERAL
            self.messages.pop(int(record.original["id"]), None)
            record.original = None
        message = self._message(int(record.payload["channel_id"]), {**body, "flags": 0}, files, flags=flags,
                                webhook=True)
        record.followups.append(message)
        if record.replied_at is None:
            record.replied_at = received
        return _json(message)

    async def _webhook_message(self, request: web.Request) -> web.Response:
        record = self._by_token.get(request.match_info["token"])
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        which = request.match_info["message"]
        if which == "@original":
            message = record.original
        else:
            message = next((m for m in [record.original, *record.followups] if m and m["id"] == which), None)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return _json(message)
        if request.method == "DELETE":
            self.messages.pop(int(message["id"]), None)
            return web.Response(status=204)
        body, files = await self._body(request)
        return self._edit(message, body, files, "webhook message edit")

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unhandled.append(f"{request.method} {request.path}")
        return _error(404, 0, "404: Not Found")

    # ----------------------------------------------------------------- queries for tests
    def posts(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Public messages in a channel (default: #general), oldest first."""
        return [self.messages[m] for m in self.channel_messages.get(channel_id or self.channel_id, [])
                if m in self.messages]

    def edits_of(self, message_id: int | str) -> list[dict[str, Any]]:
        return [body for _, mid, body, _ in self.edits if mid == int(message_id)]

    def problems(self) -> list[str]:
        """Everything a real Discord would have refused or that a bot should never do."""
        found = list(self.errors) + [f"unhandled request {u}" for u in self.unhandled]
        found += [f"{what} without allowed_mentions none: {policy!r}" for what, policy in self.mention_policies
                  if not (isinstance(policy, dict) and policy.get("parse") == [] and not policy.get("users")
                          and not policy.get("roles") and not policy.get("replied_user"))]
        return found


# ----------------------------------------------------------------- Discord's limits
def _units(text: Any) -> int:
    return len(str(text))


def _check_embed(embed: dict[str, Any]) -> tuple[list[str], int]:
    problems = []
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        if embed.get(key) is not None:
            total += _units(embed[key])
            if _units(embed[key]) > limit:
                problems.append(f"embed {key} longer than {limit}")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        problems.append("more than 25 embed fields")
    for f in fields:
        name, value = f.get("name", ""), f.get("value", "")
        total += _units(name) + _units(value)
        if not name or _units(name) > 256:
            problems.append(f"embed field name empty or longer than 256: {name[:40]!r}")
        if not value or _units(value) > 1024:
            problems.append(f"embed field value empty or longer than 1024 ({_units(value)})")
    footer = (embed.get("footer") or {}).get("text")
    if footer is not None:
        total += _units(footer)
        if _units(footer) > 2048:
            problems.append("embed footer longer than 2048")
    author = (embed.get("author") or {}).get("name")
    if author is not None:
        total += _units(author)
        if _units(author) > 256:
            problems.append("embed author longer than 256")
    return problems, total


def _check_components(components: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(components) > 5:
        problems.append("more than 5 action rows")
    ids: list[str] = []
    for row in components:
        if row.get("type") != 1:
            problems.append(f"top-level component of type {row.get('type')} in a message without components v2")
            continue
        children = row.get("components") or []
        if not 1 <= len(children) <= 5:
            problems.append(f"an action row with {len(children)} components")
        for c in children:
            if c.get("type") != 2:
                continue
            label = c.get("label")
            if label is not None and not 1 <= _units(label) <= 80:
                problems.append(f"button label empty or longer than 80: {label!r}")
            if c.get("style") == 5:
                continue
            custom_id = c.get("custom_id")
            if not custom_id or _units(custom_id) > 100:
                problems.append(f"button custom_id empty or longer than 100: {custom_id!r}")
            ids.append(str(custom_id))
    if len(ids) != len(set(ids)):
        problems.append("repeated custom_id in one message")
    return problems


def _check_message(body: dict[str, Any], files: list[tuple[str, bytes]], *, new: bool) -> list[str]:
    problems = []
    content = body.get("content")
    if content is not None and _units(content) > 2000:
        problems.append("content longer than 2000")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    total = 0
    for embed in embeds:
        found, size = _check_embed(embed)
        problems += found
        total += size
    if total > 6000:
        problems.append(f"embeds total {total} characters, more than 6000")
    problems += _check_components(body.get("components") or [])
    if new and not (content or embeds or body.get("components") or files or body.get("poll")):
        problems.append("cannot send an empty message")
    return problems


def _check_option(option: dict[str, Any], where: str) -> list[str]:
    problems = []
    name = option.get("name", "")
    if not COMMAND_NAME.match(name) or name != name.lower():
        problems.append(f"{where}: bad name {name!r}")
    if not 1 <= _units(option.get("description", "")) <= 100:
        problems.append(f"{where} {name}: description must be 1-100 characters")
    choices = option.get("choices") or []
    if len(choices) > 25:
        problems.append(f"{where} {name}: more than 25 choices")
    if choices and option.get("autocomplete"):
        problems.append(f"{where} {name}: choices and autocomplete are exclusive")
    for c in choices:
        if not 1 <= _units(c.get("name", "")) <= 100:
            problems.append(f"{where} {name}: choice name must be 1-100 characters")
    subs = option.get("options") or []
    if len(subs) > 25:
        problems.append(f"{where} {name}: more than 25 options")
    seen_optional = False
    for sub in subs:
        if sub.get("type") in (1, 2):
            problems += _check_option(sub, f"{where} {name}")
            continue
        if sub.get("required"):
            if seen_optional:
                problems.append(f"{where} {name}: required option {sub.get('name')!r} after an optional one")
        else:
            seen_optional = True
        problems += _check_option(sub, f"{where} {name}")
    return problems


def _check_command(cmd: dict[str, Any]) -> list[str]:
    problems = _check_option(cmd, "command")
    perms = cmd.get("default_member_permissions")
    if perms is not None and not str(perms).isdigit():
        problems.append(f"command {cmd.get('name')}: default_member_permissions must be a bitset string")
    return problems


def _check_modal(data: dict[str, Any]) -> list[str]:
    problems = []
    if not 1 <= _units(data.get("title", "")) <= 45:
        problems.append("modal title must be 1-45 characters")
    if not 1 <= _units(data.get("custom_id", "")) <= 100:
        problems.append("modal custom_id must be 1-100 characters")
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        problems.append("a modal has 1-5 components")
    for c in components:
        inputs = []
        if c.get("type") == 18:
            if not 1 <= _units(c.get("label", "")) <= 45:
                problems.append("label text must be 1-45 characters")
            if _units(c.get("description") or "") > 100:
                problems.append("label description longer than 100")
            inputs = [c.get("component") or {}]
        elif c.get("type") == 1:
            inputs = c.get("components") or []
        elif c.get("type") == 10:
            if not 1 <= _units(c.get("content", "")) <= 4000:
                problems.append("text display content must be 1-4000 characters")
        else:
            problems.append(f"component type {c.get('type')} in a modal")
        for i in inputs:
            if i.get("type") == 4:
                if int(i.get("max_length") or 4000) > 4000:
                    problems.append("text input max_length above 4000")
                if not i.get("custom_id") or _units(i["custom_id"]) > 100:
                    problems.append("text input custom_id must be 1-100 characters")
                if _units(i.get("placeholder") or "") > 100:
                    problems.append("text input placeholder longer than 100")
    return problems


def _check_callback(kind: Any, data: dict[str, Any], files: list[tuple[str, bytes]],
                    record: Interaction) -> list[str]:
    interaction_type = record.payload["type"]
    if kind == 8:
        if interaction_type != 4:
            return ["autocomplete result for an interaction that is not an autocomplete"]
        choices = data.get("choices") or []
        problems = ["more than 25 autocomplete choices"] if len(choices) > 25 else []
        for c in choices:
            if not 1 <= _units(c.get("name", "")) <= 100 or _units(c.get("value", "")) > 100:
                problems.append(f"autocomplete choice name/value out of range: {c!r}")
        return problems
    if interaction_type == 4:
        return [f"callback type {kind} to an autocomplete interaction"]
    if kind == 9:
        if interaction_type == 5:
            return ["a modal in answer to a modal submit"]
        return _check_modal(data)
    if kind in (4, 7):
        return _check_message(data, files, new=kind == 4)
    if kind in (5, 6):
        return []
    return [f"unknown callback type {kind}"]
